// Decide's outbound side on hand-written raw messages and a fake forum: who
// a new thread and a post in an existing thread are mailed to, and what
// becomes of bounces to our VERP return path and of auto-replies.
#include "engine/pipeline.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "mail/composer.h"
#include "mail/reply_token.h"
#include "mail/unsubscribe_token.h"

namespace engine {
namespace {

constexpr char kKey[] = "pipeline-test-key-0123456789abcdef";
constexpr char kBounceTemplate[] = "bounces+{id}@example.com";

// The forum as a map: threads by id, and Message-IDs known to lead to them.
class FakeForum : public ForumLookup {
 public:
  base::Result<bool> ThreadExists(int64_t id) override { return threads.count(id) > 0; }
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    for (const std::string& id : ids) {
      if (auto it = message_ids.find(id); it != message_ids.end()) return std::optional<int64_t>(it->second);
    }
    return std::optional<int64_t>();
  }
  base::Result<int64_t> CountThreadsOpenedSince(const std::string&, int64_t) override { return int64_t{0}; }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t id) override {
    if (fail_audience) return base::Error{base::ErrorKind::kTransient, "connection lost"};
    auto it = threads.find(id);
    if (it == threads.end()) return std::optional<forum::ThreadAudience>();
    return std::optional<forum::ThreadAudience>(it->second);
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& id) override {
    auto it = posts.find(id);
    if (it == posts.end()) return std::optional<forum::PostRef>();
    return std::optional<forum::PostRef>(it->second);
  }

  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& ids) override {
    if (outbox_id) {
      if (auto it = sent_rows.find(*outbox_id); it != sent_rows.end() && it->second == domain) return true;
    }
    for (const std::string& id : ids) {
      if (auto it = sent_ids.find(id); it != sent_ids.end() && it->second == domain) return true;
    }
    return false;
  }

  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override {
    auto it = outbox.find(outbox_id);
    if (it == outbox.end()) return std::optional<forum::UnsubscribeTarget>();
    return std::optional<forum::UnsubscribeTarget>(it->second);
  }

  std::map<int64_t, forum::UnsubscribeTarget> outbox;  // rows an unsubscribe token may name
  std::map<int64_t, forum::ThreadAudience> threads;
  std::map<std::string, forum::PostRef> posts;  // by Message-ID
  std::map<int64_t, std::string> sent_rows;     // our outbox rows: the recipient's domain
  std::map<std::string, std::string> sent_ids;  // our outbound Message-IDs: the recipient's domain
  std::map<std::string, int64_t> message_ids;
  bool fail_audience = false;
};

PipelineConfig Config() {
  PipelineConfig c;
  c.mailbox = "help";
  c.reply_to_template = "help+{token}@example.com";
  c.reply_key = kKey;
  c.bounce_template = kBounceTemplate;
  c.own_addresses = {"help@example.com"};
  c.trusted_authserv_ids = {"mx.example.com"};
  forum::Rule all;
  all.name = "all";
  all.action = forum::RuleAction::kThread;
  all.category = "it";
  c.rules = {all};
  // Our own address among the watchers must never be mailed.
  c.watchers = {{"it", {"IT-Team@example.com", "oncall@example.com", "help@example.com"}},
                {"general", {"general@example.com"}}};
  return c;
}

std::string Message(const std::string& from, const std::string& to, const std::string& subject,
                    const std::string& message_id, const std::string& body, const std::string& extra = "") {
  return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + message_id +
         ">\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra +
         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
}

// "kind recipient" of each queued mail, in order.
std::vector<std::string> Sends(const forum::InboundItem& item) {
  std::vector<std::string> out;
  for (const auto& o : item.outbox) out.push_back(std::string(forum::Name(o.kind)) + " " + o.recipient);
  return out;
}

// What our MTA (mx.example.com, trusted by Config()) prepends to mail from
// example.org whose DMARC passed: the proof a thread command needs.
constexpr char kProvenOrg[] =
    "Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n";

forum::InboundItem MustDecide(const std::string& raw, FakeForum& forum,
                              const PipelineConfig& config = Config()) {
  auto item = Decide(FetchedMessage{1, 1, raw}, config, forum);
  EXPECT_TRUE(item.ok()) << (item.ok() ? "" : item.error().message);
  return item.ok() ? *item : forum::InboundItem();
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Thread 7 in "it", opened by Alice; Bob and the on-call watcher answered already.
    forum_.threads[7] = {
        7, "it", "alice@example.org", {"alice@example.org", "bob@example.org", "oncall@example.com"}};
    forum_.message_ids["question@alice.example"] = 7;
    // Bob's answer (post 71) and Alice's question (post 70), by our outbound Message-IDs.
    forum_.message_ids["post.71.abcd@example.com"] = 7;
    forum_.posts["post.71.abcd@example.com"] = {71, 7, "bob@example.org"};
    forum_.posts["post.70.abcd@example.com"] = {70, 7, "alice@example.org"};
  }
  FakeForum forum_;
};

TEST_F(PipelineTest, NewThreadAcknowledgesTheAskerAndNotifiesTheWatchers) {
  const auto item = MustDecide(
      Message("Alice <alice@example.org>", "help@example.com", "VPN down", "q1@alice.example", "It is down."),
      forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_FALSE(item.post->thread_id.has_value());
  EXPECT_EQ(Sends(item),
            (std::vector<std::string>{"acknowledgement alice@example.org", "notification it-team@example.com",
                                      "notification oncall@example.com"}));
}

TEST_F(PipelineTest, AnswerGoesToTheAskerAndEarlierParticipantsAndOtherWatchers) {
  // Carol answers by References: the asker and Bob get the answer, the
  // on-call watcher (a participant) gets it once as an answer, the other
  // watcher is notified, our own address nothing, Carol herself nothing.
  const auto item =
      MustDecide(Message("Carol <Carol@Example.org>", "help@example.com", "Re: VPN down", "c1@carol.example",
                         "Restart the client.", "In-Reply-To: <question@alice.example>\r\n"),
                 forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(item.post->thread_id, 7);
  EXPECT_EQ(Sends(item),
            (std::vector<std::string>{"answer alice@example.org", "answer bob@example.org",
                                      "answer oncall@example.com", "notification it-team@example.com"}));
}

TEST_F(PipelineTest, ThePostsAuthorIsNeverMailedAndAddressesAreComparedWithoutCase) {
  // The asker replies (with another letter case) through the thread's reply token.
  const std::string to = mail::ReplyAddress(Config().reply_to_template, 7, kKey);
  const auto item =
      MustDecide(Message("ALICE@example.ORG", to, "Re: VPN down", "a2@alice.example", "Thanks!"), forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(item.post->thread_id, 7);
  EXPECT_EQ(Sends(item), (std::vector<std::string>{"answer bob@example.org", "answer oncall@example.com",
                                                   "notification it-team@example.com"}));
}

TEST_F(PipelineTest, AWatcherWhoAnswersIsNotNotifiedOfTheirOwnPost) {
  forum_.threads[7].participants = {"alice@example.org"};
  const auto item = MustDecide(Message("it-team@example.com", "help@example.com", "Re: VPN down",
                                       "w1@it.example", "Fixed.", "References: <question@alice.example>\r\n"),
                               forum_);
  EXPECT_EQ(Sends(item),
            (std::vector<std::string>{"answer alice@example.org", "notification oncall@example.com"}));
}

TEST_F(PipelineTest, AThreadThatVanishedQueuesNothingAndALookupFailureDecidesNothing) {
  forum_.message_ids["gone@alice.example"] = 99;  // known id, thread deleted since
  const std::string reply = Message("carol@example.org", "help@example.com", "Re: x", "c2@carol.example",
                                    "Hello", "In-Reply-To: <gone@alice.example>\r\n");
  auto item = MustDecide(reply, forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_TRUE(item.outbox.empty());

  forum_.fail_audience = true;
  auto failed = Decide(
      FetchedMessage{1, 2,
                     Message("carol@example.org", "help@example.com", "Re: VPN down", "c3@carol.example",
                             "Hello", "In-Reply-To: <question@alice.example>\r\n")},
      Config(), forum_);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, base::ErrorKind::kTransient);
}

TEST_F(PipelineTest, NewThreadsAcknowledgementCarriesTheRateLimit) {
  PipelineConfig config = Config();
  config.acknowledgement_interval = std::chrono::minutes(30);
  const auto item =
      MustDecide(Message("alice@example.org", "help@example.com", "VPN down", "q2@alice.example", "Down."),
                 forum_, config);
  ASSERT_FALSE(item.outbox.empty());
  EXPECT_EQ(item.outbox[0].kind, forum::OutboxKind::kAcknowledgement);
  EXPECT_EQ(item.outbox[0].min_interval, std::chrono::minutes(30));
  EXPECT_EQ(item.outbox[1].min_interval, std::chrono::seconds(0));  // notifications are not limited here
}

TEST_F(PipelineTest, TheAuthorResolvesWithACommandLineThatIsRemovedFromThePost) {
  const auto item = MustDecide(Message("ALICE@example.org", "help@example.com", "Re: VPN down",
                                       "a3@alice.example", "Works now, thanks!\r\n\r\n  #Resolved  ",
                                       std::string(kProvenOrg) + "In-Reply-To: <question@alice.example>\r\n"),
                               forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(item.post->body, "Works now, thanks!");
  ASSERT_TRUE(item.thread_update.has_value());
  EXPECT_EQ(item.thread_update->thread_id, 7);
  EXPECT_EQ(item.thread_update->status, forum::ThreadUpdate::Status::kResolved);
  EXPECT_FALSE(item.thread_update->accepted_post_id.has_value());
  EXPECT_FALSE(item.outbox.empty());  // the rest is an ordinary post
}

TEST_F(PipelineTest, OnlyCommandsMakeNoPostButStillApply) {
  const auto item =
      MustDecide(Message("alice@example.org", "help@example.com", "Re: VPN down", "a4@alice.example",
                         "#accept\r\n#resolved",
                         std::string(kProvenOrg) + "In-Reply-To: <post.71.abcd@example.com>\r\n"),
                 forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kIgnored);
  EXPECT_FALSE(item.post.has_value());
  EXPECT_TRUE(item.outbox.empty());
  ASSERT_TRUE(item.thread_update.has_value());
  EXPECT_EQ(item.thread_update->status, forum::ThreadUpdate::Status::kResolved);
  EXPECT_EQ(item.thread_update->accepted_post_id, 71);
  EXPECT_EQ(item.reason, "thread 7 resolved; post 71 accepted by its author");
}

TEST_F(PipelineTest, AcceptNeedsAReplyToAnAnswerOfTheThread) {
  // A reply to Alice's own question accepts nothing; the reopen still applies.
  const auto item = MustDecide(Message("alice@example.org", "help@example.com", "Re: VPN down",
                                       "a5@alice.example", "#reopen\r\n#accept\r\nIt is down again.",
                                       std::string(kProvenOrg) + "In-Reply-To: <post.70.abcd@example.com>\r\n"
                                                                 "References: <question@alice.example>\r\n"),
                               forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(item.post->body, "It is down again.");
  ASSERT_TRUE(item.thread_update.has_value());
  EXPECT_EQ(item.thread_update->status, forum::ThreadUpdate::Status::kReopened);
  EXPECT_FALSE(item.thread_update->accepted_post_id.has_value());
  EXPECT_NE(item.reason.find("#accept ignored"), std::string::npos) << item.reason;
}

TEST_F(PipelineTest, CommandsOfAnyoneButTheAuthorAreOrdinaryText) {
  const auto item =
      MustDecide(Message("bob@example.org", "help@example.com", "Re: VPN down", "b2@bob.example", "#resolved",
                         "In-Reply-To: <question@alice.example>\r\n"),
                 forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(item.post->body, "#resolved");
  EXPECT_FALSE(item.thread_update.has_value());
}

// --- Issue 8 item 5: identity needs proof (thread commands, author_verified) ---

// Alice's reply to her thread 7, with `extra` header lines.
std::string AliceReply(const std::string& extra, const std::string& body = "Works now.\r\n#resolved",
                       const std::string& from = "Alice <alice@example.org>") {
  return Message(from, "help@example.com", "Re: VPN down", "ar@alice.example", body,
                 extra + "In-Reply-To: <question@alice.example>\r\n");
}

TEST_F(PipelineTest, TheAuthorsFromWithoutADmarcPassCommandsNothing) {
  const auto item = MustDecide(AliceReply(""), forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_FALSE(item.thread_update.has_value());
  EXPECT_EQ(item.post->body, "Works now.\n#resolved");  // the line stays, as text
  EXPECT_FALSE(item.post->author_verified);
  EXPECT_NE(item.reason.find("#resolved not applied: sender not proven (dmarc=none"), std::string::npos)
      << item.reason;
  // Only commands, unproven: they are the post's text, nothing is applied.
  const auto only = MustDecide(AliceReply("", "#resolved\r\n#accept"), forum_);
  ASSERT_EQ(only.outcome, forum::Outcome::kPosted);
  EXPECT_FALSE(only.thread_update.has_value());
  EXPECT_NE(only.reason.find("#resolved, #accept not applied"), std::string::npos) << only.reason;
}

TEST_F(PipelineTest, TheAuthorsFromWithATrustedAlignedPassResolves) {
  const auto item = MustDecide(AliceReply(kProvenOrg), forum_);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  ASSERT_TRUE(item.thread_update.has_value());
  EXPECT_EQ(item.thread_update->status, forum::ThreadUpdate::Status::kResolved);
  EXPECT_EQ(item.post->body, "Works now.");
  EXPECT_TRUE(item.post->author_verified);
  EXPECT_NE(item.reason.find("thread 7 resolved by its author"), std::string::npos) << item.reason;
}

TEST_F(PipelineTest, AProvenReplyInAThreadSubscribesItsAuthorToItAgain) {
  const auto proven = MustDecide(AliceReply(kProvenOrg, "Still broken."), forum_);
  ASSERT_EQ(proven.outcome, forum::Outcome::kPosted);
  ASSERT_TRUE(proven.subscription.has_value());
  EXPECT_EQ(proven.subscription->action, forum::SubscriptionChange::Action::kResubscribe);
  EXPECT_EQ(proven.subscription->address, "alice@example.org");
  EXPECT_EQ(proven.subscription->scope, "thread:7");
  // A From alone is anyone's to write: it undoes nobody's unsubscription.
  const auto claimed = MustDecide(AliceReply("", "Still broken."), forum_);
  ASSERT_EQ(claimed.outcome, forum::Outcome::kPosted);
  EXPECT_FALSE(claimed.subscription.has_value());
}

// Alice's mail client presses "Unsubscribe" on the answer (outbox row 5) she got in thread 7.
std::string UnsubscribeMail(const std::string& token, const std::string& from = "Alice <alice@example.org>") {
  return Message(from, "help+unsub-" + token + "@example.com", "unsubscribe", "u1@alice.example", "");
}

TEST_F(PipelineTest, AMessageToTheUnsubscribeAddressUnsubscribesItsRecipientAndIsNeverPosted) {
  forum_.outbox[5] = {5, forum::OutboxKind::kAnswer, "alice@example.org", 7, "it"};
  const std::string token = mail::MakeUnsubscribeToken(5, "alice@example.org", "thread:7", kKey);
  // Even from another address (a forwarding mailbox): the token is the authority.
  for (const char* from : {"Alice <alice@example.org>", "alice@home.example"}) {
    const auto item = MustDecide(UnsubscribeMail(token, from), forum_);
    EXPECT_EQ(item.outcome, forum::Outcome::kUnsubscribed) << item.reason;
    ASSERT_TRUE(item.subscription.has_value());
    EXPECT_EQ(item.subscription->action, forum::SubscriptionChange::Action::kUnsubscribe);
    EXPECT_EQ(item.subscription->address, "alice@example.org");
    EXPECT_EQ(item.subscription->scope, "thread:7");
    EXPECT_EQ(item.subscription->source, forum::UnsubscribeSource::kMailto);
    EXPECT_FALSE(item.post.has_value());
    EXPECT_TRUE(item.outbox.empty()) << "never answered or acknowledged";
    EXPECT_EQ(item.reason, "alice@example.org unsubscribed from thread 7 (mailto)");
  }
  // Apple Mail's one-click message is automatic mail, and still an unsubscription.
  const auto apple =
      MustDecide(Message("alice@example.org", "help+unsub-" + token + "@example.com", "unsubscribe",
                         "u2@alice.example", "", "X-Apple-Unsubscribe: true\r\n"),
                 forum_);
  EXPECT_EQ(apple.outcome, forum::Outcome::kUnsubscribed) << apple.reason;
}

TEST_F(PipelineTest, AForgedUnsubscribeTokenChangesNothingAndIsNeverPosted) {
  forum_.outbox[5] = {5, forum::OutboxKind::kAnswer, "alice@example.org", 7, "it"};
  forum_.outbox[6] = {6, forum::OutboxKind::kNotification, "oncall@example.com", 7, "it"};
  std::string forged = mail::MakeUnsubscribeToken(5, "alice@example.org", "thread:7", kKey);
  forged[20] = forged[20] == 'a' ? 'b' : 'a';
  const std::vector<std::string> tokens = {
      forged,
      // Signed for another recipient or scope than its row's, or with another key.
      mail::MakeUnsubscribeToken(5, "mallory@example.org", "thread:7", kKey),
      mail::MakeUnsubscribeToken(6, "oncall@example.com", "thread:7", kKey),
      mail::MakeUnsubscribeToken(5, "alice@example.org", "thread:7", "another key, 32 bytes long......"),
      // A row that does not exist, and no token at all.
      mail::MakeUnsubscribeToken(99, "alice@example.org", "thread:7", kKey), "nonsense"};
  for (const std::string& token : tokens) {
    const auto item = MustDecide(UnsubscribeMail(token), forum_);
    EXPECT_EQ(item.outcome, forum::Outcome::kIgnored) << token;
    EXPECT_FALSE(item.subscription.has_value()) << token;
    EXPECT_TRUE(item.outbox.empty());
    EXPECT_NE(item.reason.find("does not verify: nothing changed"), std::string::npos) << item.reason;
  }
}

// A mailing list's mail carries no unsubscribe link; a token naming it anyway (signed while the address was a
// plain watcher) unsubscribes nobody: one member never unsubscribes the whole list.
TEST_F(PipelineTest, AnUnsubscribeTokenNamingMailToAMailingListChangesNothing) {
  forum_.outbox[6] = {6, forum::OutboxKind::kNotification, "it-list@example.com", 7, "it"};
  PipelineConfig config = Config();
  config.list_addresses = {"it-list@example.com"};
  const auto item =
      MustDecide(UnsubscribeMail(mail::MakeUnsubscribeToken(6, "it-list@example.com", "category:it", kKey),
                                 "member@example.com"),
                 forum_, config);
  EXPECT_EQ(item.outcome, forum::Outcome::kIgnored) << item.reason;
  EXPECT_FALSE(item.subscription.has_value());
  EXPECT_FALSE(item.post.has_value());
  EXPECT_TRUE(item.outbox.empty());
  EXPECT_NE(item.reason.find("mailing list it-list@example.com"), std::string::npos) << item.reason;
}

TEST_F(PipelineTest, AProvenHashMuteReplyMutesTheThreadForItsSenderAndUnmuteUndoesIt) {
  const auto mute = MustDecide(AliceReply(kProvenOrg, "#mute", "bob@example.org"), forum_);
  EXPECT_EQ(mute.outcome, forum::Outcome::kUnsubscribed) << mute.reason;
  EXPECT_FALSE(mute.post.has_value());
  EXPECT_TRUE(mute.outbox.empty());
  ASSERT_TRUE(mute.subscription.has_value());
  EXPECT_EQ(mute.subscription->action, forum::SubscriptionChange::Action::kUnsubscribe);
  EXPECT_EQ(mute.subscription->address, "bob@example.org");
  EXPECT_EQ(mute.subscription->scope, "thread:7");
  EXPECT_EQ(mute.subscription->source, forum::UnsubscribeSource::kMute);

  const auto unmute = MustDecide(AliceReply(kProvenOrg, "#unmute\r\n"), forum_);
  EXPECT_EQ(unmute.outcome, forum::Outcome::kIgnored);
  EXPECT_FALSE(unmute.post.has_value());
  ASSERT_TRUE(unmute.subscription.has_value());
  EXPECT_EQ(unmute.subscription->action, forum::SubscriptionChange::Action::kResubscribe);
  EXPECT_EQ(unmute.reason, "alice@example.org unmuted thread 7");

  // Without proof nothing changes and nothing is posted; with more to say it is an ordinary post.
  const auto unproven = MustDecide(AliceReply("", "#mute", "bob@example.org"), forum_);
  EXPECT_EQ(unproven.outcome, forum::Outcome::kIgnored);
  EXPECT_FALSE(unproven.subscription.has_value());
  EXPECT_NE(unproven.reason.find("#mute in thread 7 not applied: sender not proven"), std::string::npos);
  const auto text = MustDecide(AliceReply(kProvenOrg, "#mute\r\nToo much mail.", "bob@example.org"), forum_);
  EXPECT_EQ(text.outcome, forum::Outcome::kPosted);
}

TEST_F(PipelineTest, APassForSomeoneElseIsNoAuthority) {
  // Bob's mail passes DMARC, but Bob did not open the thread.
  const auto bob = MustDecide(AliceReply(kProvenOrg, "Works now.\r\n#resolved", "bob@example.org"), forum_);
  ASSERT_EQ(bob.outcome, forum::Outcome::kPosted);
  EXPECT_FALSE(bob.thread_update.has_value());
  EXPECT_EQ(bob.post->body, "Works now.\n#resolved");
  EXPECT_TRUE(bob.post->author_verified);  // he is who he says, just not the author
  EXPECT_NE(bob.reason.find("not the thread's author"), std::string::npos) << bob.reason;
}

TEST_F(PipelineTest, ForgedOrMisalignedProofIsNoProof) {
  struct Case {
    const char* label;
    std::string extra;
    std::string from;
  };
  const Case cases[] = {
      {"pass from an untrusted authserv-id",
       "Authentication-Results: mx.evil.test; dmarc=pass header.from=example.org\r\n", "alice@example.org"},
      {"forged pass below our field without a result",
       "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.org\r\n" +
           std::string(kProvenOrg),
       "alice@example.org"},
      {"pass for another domain",
       "Authentication-Results: mx.example.com; dmarc=pass header.from=evil.test\r\n", "alice@example.org"},
      {"two From addresses", kProvenOrg, "alice@example.org, mallory@evil.test"},
      {"encoded words that decode to a pass",
       "Authentication-Results: mx.example.com; spf=pass =?utf-8?q?=3B_dmarc=3Dpass?=\r\n",
       "alice@example.org"},
  };
  for (const Case& c : cases) {
    const auto item = MustDecide(AliceReply(c.extra, "Works now.\r\n#resolved", c.from), forum_);
    EXPECT_FALSE(item.thread_update.has_value()) << c.label;
    EXPECT_NE(item.reason.find("sender not proven"), std::string::npos) << c.label << ": " << item.reason;
  }
  // Two From fields: the parser reads the first as the author, and it is not proven either.
  const auto two = MustDecide(kProvenOrg + AliceReply("From: mallory@evil.test\r\n"), forum_);
  EXPECT_FALSE(two.thread_update.has_value());
  EXPECT_NE(two.reason.find("2 From fields"), std::string::npos) << two.reason;
}

// A DSN (RFC 3464) for outbox row `outbox_id`, sent to `to`.
std::string Dsn(const std::string& to, const std::string& failed_recipient, const std::string& status) {
  return "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: " + to +
         "\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.org>\r\n"
         "Date: Wed, 25 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
         "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
         "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
         "Final-Recipient: rfc822; " +
         failed_recipient + "\r\nAction: failed\r\nStatus: " + status +
         "\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n";
}

TEST_F(PipelineTest, ABounceToOurReturnPathNamesItsOutboxRow) {
  const std::string verp = mail::VerpAddress(kBounceTemplate, 4242, kKey);
  const auto item = MustDecide(Dsn(verp, "gone@example.org", "5.1.1"), forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
  EXPECT_EQ(item.classification, forum::Classification::kBounce);
  EXPECT_EQ(item.bounced_outbox_id, 4242);
  ASSERT_EQ(item.bounces.size(), 1u);
  EXPECT_EQ(item.bounces[0].address, "gone@example.org");
  EXPECT_TRUE(item.bounces[0].hard);
  EXPECT_TRUE(item.outbox.empty());
}

TEST_F(PipelineTest, AForgedReturnPathNamesNoRow) {
  std::string forged = mail::VerpAddress(kBounceTemplate, 4242, kKey);
  forged.replace(forged.find("4242"), 4, "4243");
  const auto item = MustDecide(Dsn(forged, "gone@example.org", "5.1.1"), forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
  EXPECT_FALSE(item.bounced_outbox_id.has_value());
  // Issue 8 item 4: a bounce that names no row of ours changes no score.
  EXPECT_TRUE(item.bounces.empty());
}

TEST_F(PipelineTest, MailToOurReturnPathIsNeverPosted) {
  const std::string verp = mail::VerpAddress(kBounceTemplate, 17, kKey);
  const auto item = MustDecide(
      Message("someone@example.org", verp, "Hello", "h1@example.org", "A person wrote this."), forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
  EXPECT_FALSE(item.post.has_value());
  EXPECT_FALSE(item.bounced_outbox_id.has_value());
  EXPECT_TRUE(item.outbox.empty());
}

TEST_F(PipelineTest, AnAutoReplyToANotificationMakesNoPostAndNoMail) {
  const std::string to = mail::ReplyAddress(Config().reply_to_template, 7, kKey);
  const auto item =
      MustDecide(Message("it-team@example.com", to, "Automatic reply: VPN down", "ooo@it.example",
                         "I am out of the office until Monday.",
                         "Auto-Submitted: auto-replied\r\nIn-Reply-To: <post.1.abcd@example.com>\r\n"),
                 forum_);
  EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
  EXPECT_EQ(item.classification, forum::Classification::kAutoReply);
  EXPECT_FALSE(item.post.has_value());
  EXPECT_TRUE(item.outbox.empty());
  EXPECT_FALSE(item.bounced_outbox_id.has_value());
}

// --- Issue 8 (hostile and forged mail): forged bounces, forged auto-replies, backscatter ---

TEST_F(PipelineTest, ForgedBouncesToOurAddressChangeNoScoreAndSayWhatTheyClaimed) {
  for (const std::string to : {"help@example.com", "help+notatoken@example.com", "bounces+17@example.com"}) {
    const auto item = MustDecide(Dsn(to, "IT-Team@example.com", "5.1.1"), forum_);
    EXPECT_EQ(item.outcome, forum::Outcome::kMachine) << to;
    EXPECT_EQ(item.classification, forum::Classification::kBounce) << to;
    EXPECT_FALSE(item.bounced_outbox_id.has_value()) << to;
    EXPECT_TRUE(item.bounces.empty()) << to;
    EXPECT_NE(item.reason.find("bounce not addressed to a return path of ours: no score changed"),
              std::string::npos)
        << item.reason;
    EXPECT_NE(item.reason.find("it-team@example.com hard"), std::string::npos) << item.reason;
    EXPECT_TRUE(item.outbox.empty()) << to;
  }
}

// An auto-reply as a vacation program writes it, from `from` to `to`, with `extra` header lines.
std::string AutoReply(const std::string& from, const std::string& to, const std::string& message_id,
                      const std::string& extra = "") {
  return Message(from, to, "Out of office", message_id, "Away until Monday.",
                 "Auto-Submitted: auto-replied\r\n" + extra);
}

TEST_F(PipelineTest, OnlyMachineMailAnsweringOurMailToItsDomainFeedsTheLoopBreaker) {
  forum_.sent_rows[12] = "example.org";
  forum_.sent_ids["ack.3.abcdabcdabcdabcd@example.com"] = "example.org";
  const std::string token_7 = mail::ReplyAddress(Config().reply_to_template, 7, kKey);
  const std::string verp_12 = mail::VerpAddress(kBounceTemplate, 12, kKey);
  const std::string our_ack = "References: <x@y> <ack.3.abcdabcdabcdabcd@example.com> <z@y>\r\n";
  // Not tied: to help@, to a forged token, naming Message-IDs that are not ours; and a valid
  // token, return path or Message-ID of mail that went to another domain than the From's.
  for (const std::string& raw :
       {AutoReply("boss@example.org", "help@example.com", "o1@example.org"),
        AutoReply("boss@example.org", "help+abcdefgh@example.com", "o2@example.org"),
        AutoReply("boss@example.org", "help@example.com", "o3@example.org",
                  "In-Reply-To: <question@alice.example>\r\nReferences: <post.9.zzzz@example.com>\r\n"),
        AutoReply("boss@victim.example", token_7, "o4@victim.example"),
        AutoReply("boss@victim.example", verp_12, "o5@victim.example"),
        AutoReply("boss@victim.example", "help@example.com", "o6@victim.example", our_ack)}) {
    const auto item = MustDecide(raw, forum_);
    EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
    EXPECT_FALSE(item.tied_to_ours) << raw;
    EXPECT_NE(item.reason.find("not tied to mail of ours"), std::string::npos) << item.reason;
  }
  // Tied: a valid token of a thread whose people include the From's domain (its asker's; a
  // watcher's), our return path of a row to that domain, one of our Message-IDs sent there.
  for (const std::string& raw :
       {AutoReply("boss@example.org", token_7, "t1@example.org"),
        AutoReply("it-team@example.com", token_7, "t2@example.com"),
        AutoReply("boss@example.org", verp_12, "t3@example.org"),
        AutoReply("boss@example.org", "help@example.com", "t4@example.org", our_ack)}) {
    const auto item = MustDecide(raw, forum_);
    EXPECT_EQ(item.outcome, forum::Outcome::kMachine);
    EXPECT_TRUE(item.tied_to_ours) << raw;
  }
  // A DSN comes from the reporting MTA's domain: not tied by its From (a real one counts for
  // the breaker through the row it bounces, by that row's recipient).
  EXPECT_FALSE(MustDecide(Dsn(verp_12, "a@b.example", "5.1.1"), forum_).tied_to_ours);
  EXPECT_FALSE(MustDecide(Dsn("help@example.com", "a@b.example", "5.1.1"), forum_).tied_to_ours);
}

// A configuration that, as the shipped default does, notifies only senders with a trusted DMARC pass,
// and rejects mail from outside example.com and example.org.
PipelineConfig StrictConfig() {
  PipelineConfig c = Config();
  c.notify_unverified_senders = false;
  c.auto_replies_per_domain_per_hour = 20;
  c.auto_replies_per_hour = 200;
  forum::Rule outsiders;
  outsiders.name = "outsiders";
  outsiders.action = forum::RuleAction::kReject;
  outsiders.reason = "Only staff may write here.";
  forum::Matcher from;
  from.kind = forum::Matcher::Kind::kFromDomain;
  from.values = {"example.com", "example.org"};
  forum::Matcher outside;
  outside.kind = forum::Matcher::Kind::kNot;
  outside.children = {from};
  outsiders.match = outside;
  c.rules.insert(c.rules.begin(), outsiders);
  return c;
}

TEST_F(PipelineTest, NoRejectionOrAcknowledgementGoesToAnUnverifiedSender) {
  const PipelineConfig strict = StrictConfig();
  // A rejected message whose sender has no DMARC pass (it could be anyone's address): no notice.
  auto item =
      MustDecide(Message("victim@elsewhere.example", "help@example.com", "Spam", "s1@x.example", "Buy."),
                 forum_, strict);
  EXPECT_EQ(item.outcome, forum::Outcome::kRejected);
  EXPECT_TRUE(item.outbox.empty());
  EXPECT_NE(item.reason.find("no rejection sent: the sender is not verified (dmarc=none)"), std::string::npos)
      << item.reason;
  // A new thread from an unverified sender: posted, watchers notified, no acknowledgement.
  item = MustDecide(Message("alice@example.org", "help@example.com", "VPN down", "q1@alice.example", "Down."),
                    forum_, strict);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  EXPECT_EQ(Sends(item), (std::vector<std::string>{"notification it-team@example.com",
                                                   "notification oncall@example.com"}));
  EXPECT_NE(item.reason.find("no acknowledgement sent"), std::string::npos) << item.reason;
  // The same with a trusted DMARC pass: acknowledged, under the hourly caps.
  item = MustDecide(
      Message("alice@example.org", "help@example.com", "VPN down", "q2@alice.example", "Down.", kProvenOrg),
      forum_, strict);
  ASSERT_EQ(item.outcome, forum::Outcome::kPosted);
  ASSERT_FALSE(item.outbox.empty());
  EXPECT_EQ(item.outbox[0].kind, forum::OutboxKind::kAcknowledgement);
  EXPECT_EQ(item.outbox[0].max_per_domain_per_hour, 20);
  EXPECT_EQ(item.outbox[0].max_per_hour, 200);
  // A mailbox that notifies unverified senders rejects with a notice.
  PipelineConfig lenient = strict;
  lenient.notify_unverified_senders = true;
  item = MustDecide(Message("victim@elsewhere.example", "help@example.com", "Spam", "s2@x.example", "Buy."),
                    forum_, lenient);
  EXPECT_EQ(Sends(item), (std::vector<std::string>{"rejection victim@elsewhere.example"}));
}

}  // namespace
}  // namespace engine

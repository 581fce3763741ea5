// Issue 12's acceptance, as the binaries run it on the real servers: one
// mailforumd (IMAP in, SMTP out to the sink) and one mailforum-web whose
// database role may only SELECT and call mailforum_unsubscribe (migration 10),
// shared by the tests below, each with people of its own. The tests send what
// mail clients send for the List-Unsubscribe links of mail the sink received:
// the mailto message (to help+unsub-TOKEN@) and the RFC 8058 one-click POST.
// Asserted: what the database recorded (outcomes, unsubscriptions, outbox
// fates) and what the sink received. Every wait is for an event (a row, a
// file in the spool, a log line), bounded; there is no fixed sleep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/ascii.h"
#include "daemon/daemon_itest_support.h"
#include "daemon/sink_itest_support.h"
#include "daemon/worker_itest_support.h"
#include "mail/unsubscribe_token.h"
#include "web/http_test_client.h"

namespace {

using mailforumd::itest::Received;
using web::testing::ClientResponse;

constexpr auto kEventTimeout = std::chrono::seconds(60);
constexpr char kOurMta[] = "mx.crash.example";  // auth.trusted_authserv_ids

// Polls `probe` every 20 ms until it returns a value (an event) or kEventTimeout passes.
template <typename T>
std::optional<T> WaitFor(const std::function<std::optional<T>()>& probe) {
  const auto deadline = std::chrono::steady_clock::now() + kEventTimeout;
  for (;;) {
    if (auto v = probe()) return v;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The value of header `name` of `mail` (unfolded), or "".
std::string Header(const Received& mail, const std::string& name) {
  for (const auto& h : mail.message.headers) {
    if (base::AsciiLower(h.name) == base::AsciiLower(name)) return h.value;
  }
  return "";
}

// The two links of a List-Unsubscribe header: <https://BASE/unsubscribe/TOKEN>, <mailto:ADDRESS>.
struct Links {
  std::string path;    // "/unsubscribe/TOKEN" ("" without an https link)
  std::string mailto;  // the address
  std::string token() const { return path.substr(path.rfind('/') + 1); }
};
Links LinksOf(const std::string& list_unsubscribe) {
  Links links;
  for (size_t at = list_unsubscribe.find('<'); at != std::string::npos;
       at = list_unsubscribe.find('<', at + 1)) {
    const std::string uri = list_unsubscribe.substr(at + 1, list_unsubscribe.find('>', at) - at - 1);
    if (uri.starts_with("mailto:")) links.mailto = uri.substr(7);
    if (uri.starts_with("https://")) links.path = uri.substr(uri.find('/', 8));
  }
  return links;
}

// `token` with one character changed (to another of the base32 alphabet).
std::string OneCharacterChanged(std::string token) {
  char& c = token[token.size() / 2];
  c = c == 'a' ? 'b' : 'a';
  return token;
}

// One mailforumd and one mailforum-web on a configuration of their own, for the whole suite.
struct Instance {
  mftest::DaemonSetup setup;
  std::string domain;  // of every person of the tests: the sink's spool is read for it
  std::string spool;
  std::string reply_key;
  mftest::Child daemon, web;
  uint16_t web_port = 0;
};

class UnsubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    MAILFORUM_REQUIRE_SERVER(spool, "MAILFORUM_TEST_SMTP_SPOOL");
    if (!started_) {
      started_ = true;
      Start(spool);
    }
    ASSERT_TRUE(instance_ && instance_->web_port != 0) << "the instance did not start (see the first test)";
  }

  static void TearDownTestSuite() {
    if (!instance_) return;
    EXPECT_EQ(mftest::Terminate(instance_->web), 0) << mftest::LogText(instance_->setup.dir + "/web.log");
    EXPECT_EQ(mftest::Terminate(instance_->daemon), 0)
        << mftest::LogText(instance_->setup.dir + "/daemon.log");
    instance_.reset();
  }

  // Category `it` (new threads whose subject says VPN) is watched by watcher1 and watcher2 and sent to
  // the list it-list; `general` (the rest) is watched by watcher1. Acknowledgements go to proven askers.
  static void Start(const std::string& spool) {
    auto instance = std::make_unique<Instance>();
    Instance& i = *instance;
    i.spool = spool;
    i.domain = mailforumd::itest::UniqueName("unsub") + ".example";
    const std::string w1 = "watcher1@" + i.domain, w2 = "watcher2@" + i.domain, list = "it-list@" + i.domain;
    i.setup.base_url = "https://help.crash.example";  // RFC 8058: the one-click link only over https
    i.setup.acknowledge = true;
    i.setup.categories = "[{slug: it, name: IT, watchers: [" + w1 + ", " + w2 + "], lists: [" + list +
                         "]}, {slug: general, name: General, watchers: [" + w1 + "]}]";
    i.setup.rules =
        "[{name: vpn, match: {subject: '(?i)\\bvpn\\b'}, action: thread, category: it}, "
        "{name: rest, action: thread, category: general}]";
    const std::string trusted = "auth: {trusted_authserv_ids: [" + std::string(kOurMta) + "]}\n";
    if (!i.setup.Make(
            "unsub",
            trusted + "limits: {new_threads_per_sender_per_hour: 100000}\n"
                      "outbox: {acknowledgement_interval: 0s, auto_replies_per_domain_per_hour: 1000}\n")) {
      return;
    }
    i.reply_key = mftest::ReadFile(i.setup.dir + "/reply.key");
    while (!i.reply_key.empty() && std::isspace(static_cast<unsigned char>(i.reply_key.back())))
      i.reply_key.pop_back();
    // The web's role, as docs/configuration.md (web.dsn_file) creates it: SELECT, and the one write.
    i.setup.Query(
        "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mf_unsub_web') THEN "
        "CREATE ROLE mf_unsub_web LOGIN PASSWORD 'web'; END IF; END$$");
    i.setup.Query("GRANT SELECT ON ALL TABLES IN SCHEMA public TO mf_unsub_web");
    i.setup.Query("GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text) TO mf_unsub_web");
    mftest::WriteFile(i.setup.dir + "/web.dsn", i.setup.dsn + " user=mf_unsub_web password=web\n");
    mftest::WriteFile(i.setup.config,
                      mftest::ReadFile(i.setup.config) + "web: {listen: '127.0.0.1:0', dsn_file: web.dsn}\n",
                      0644);

    const std::string daemon_log = i.setup.dir + "/daemon.log", web_log = i.setup.dir + "/web.log";
    i.daemon.pid = mftest::SpawnDaemon(MAILFORUMD_PATH, {"-c", i.setup.config}, daemon_log);
    i.web.pid = mftest::SpawnDaemon(MAILFORUM_WEB_PATH, {"-c", i.setup.config}, web_log);
    const auto port = mftest::WaitForListening(web_log);
    if (!port) {
      ADD_FAILURE() << "mailforum-web did not listen:\n" << mftest::LogText(web_log);
      return;
    }
    // mailforumd started (it serves its own web too, after the schema check).
    if (!mftest::WaitForListening(daemon_log)) {
      ADD_FAILURE() << "mailforumd did not start:\n" << mftest::LogText(daemon_log);
      return;
    }
    // Its role was granted the one write, so it does not warn that one-click would fail.
    EXPECT_EQ(mftest::LogText(web_log).find("may not call mailforum_unsubscribe"), std::string::npos)
        << mftest::LogText(web_log);
    i.web_port = *port;
    instance_ = std::move(instance);
  }

  Instance& I() const { return *instance_; }
  std::string Address(const std::string& local) const { return local + "@" + I().domain; }

  // Appends a message from `from_local` of the test domain to the help mailbox; `proven` adds our MTA's
  // DMARC pass for it. Returns its Message-ID (without angle brackets).
  std::string Send(const std::string& from_local, const std::string& to, const std::string& subject,
                   const std::string& body, bool proven, const std::string& in_reply_to = "") {
    const std::string id = from_local + "." + std::to_string(++sent_) + "." + I().domain;
    std::string raw;
    if (proven) {
      raw += "Authentication-Results: " + std::string(kOurMta) + "; dmarc=pass header.from=" + I().domain +
             "\r\n";
    }
    raw += "From: <" + Address(from_local) + ">\r\nTo: " + to + "\r\nSubject: " + subject +
           "\r\nMessage-ID: <" + id + "@client>\r\n";
    if (!in_reply_to.empty()) raw += "In-Reply-To: <" + in_reply_to + "@client>\r\n";
    raw += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
    auto session = mail::ImapSession::Connect(I().setup.imap);
    EXPECT_TRUE(session) << (session ? "" : session.error().message);
    if (session) {
      auto appended = (*session)->Append("INBOX", raw);
      EXPECT_TRUE(appended) << (appended ? "" : appended.error().message);
    }
    return id;
  }

  // "outcome reason" of inbound message `id` once it was recorded ("" after the timeout).
  std::string Decided(const std::string& id) const {
    return WaitFor<std::string>([&]() -> std::optional<std::string> {
             auto r = forum::QueryScalar(I().setup.dsn,
                                         "SELECT outcome || ' ' || reason FROM inbound_messages "
                                         "WHERE message_id = '" +
                                             id + "@client'");
             return r && !r->empty() ? std::optional(*r) : std::nullopt;
           })
        .value_or("");
  }
  // The post that inbound message `id` made (0 when it made none).
  int64_t PostOf(const std::string& id) const {
    Decided(id);
    const std::string post = I().setup.Query(
        "SELECT coalesce(post_id, 0) FROM inbound_messages WHERE message_id = '" + id + "@client'");
    return post.empty() ? 0 : std::stoll(post);
  }
  // A proven question from `local`: its thread (0 when none was opened) and Message-ID.
  struct Question {
    std::string id;
    int64_t thread = 0;
  };
  Question Ask(const std::string& local, const std::string& subject) {
    Question q{Send(local, "help@crash.example", subject, "Please help with " + subject + ".", true)};
    const int64_t post = PostOf(q.id);
    if (post != 0)
      q.thread =
          std::stoll(I().setup.Query("SELECT thread_id FROM posts WHERE id = " + std::to_string(post)));
    EXPECT_NE(q.thread, 0) << Decided(q.id);
    return q;
  }
  // An answer by `local` (unproven, as most are) to `question`: its post.
  int64_t Answer(const std::string& local, const Question& question, const std::string& body) {
    const std::string id = Send(local, "help@crash.example", "Re: your question", body, false, question.id);
    const int64_t post = PostOf(id);
    EXPECT_NE(post, 0) << Decided(id);
    return post;
  }

  // The outbox row of `kind` that post `post` queued for `recipient` (lower-case): "status last_error" once
  // it is no longer pending ("" when there is no such row after the timeout).
  std::string Fate(int64_t post, const std::string& recipient, const std::string& kind) const {
    const std::string sql = "SELECT status || ' ' || coalesce(last_error, '') FROM outbox WHERE post_id = " +
                            std::to_string(post) + " AND recipient = '" + recipient + "' AND kind = '" +
                            kind + "' AND status <> 'pending'";
    return WaitFor<std::string>([&]() -> std::optional<std::string> {
             auto r = forum::QueryScalar(I().setup.dsn, sql);
             return r && !r->empty() ? std::optional(*r) : std::nullopt;
           })
        .value_or("");
  }
  // The mail the sink received for that row (fails the test when it received none).
  Received Mailed(int64_t post, const std::string& recipient, const std::string& kind) const {
    EXPECT_EQ(Fate(post, recipient, kind), "sent ") << kind << " of post " << post << " to " << recipient;
    const std::string message_id =
        I().setup.Query("SELECT message_id FROM outbox WHERE post_id = " + std::to_string(post) +
                        " AND recipient = '" + recipient + "' AND kind = '" + kind + "'");
    auto found = WaitFor<Received>([&]() -> std::optional<Received> {
      auto mailed = mailforumd::itest::Spool(I().spool, [&](const std::string& a) { return a == recipient; });
      for (Received& r : mailed[recipient]) {
        if (r.message.message_id == message_id) return std::move(r);
      }
      return std::nullopt;
    });
    EXPECT_TRUE(found) << "the sink has no " << kind << " " << message_id << " for " << recipient;
    return found.value_or(Received{});
  }
  // Its List-Unsubscribe links (fails the test when it has no https and mailto link).
  Links LinksIn(const Received& mail) const {
    const Links links = LinksOf(Header(mail, "List-Unsubscribe"));
    EXPECT_TRUE(links.path.starts_with("/unsubscribe/")) << Header(mail, "List-Unsubscribe");
    EXPECT_EQ(links.mailto, "help+unsub-" + links.token() + "@crash.example")
        << Header(mail, "List-Unsubscribe");
    EXPECT_EQ(Header(mail, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    return links;
  }

  // What a mail provider sends for the https link (RFC 8058 §3.1): a POST without cookies.
  ClientResponse OneClick(const std::string& path) const {
    return Http(path, "POST",
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n"
                "List-Unsubscribe=One-Click");
  }
  ClientResponse Http(const std::string& path, const std::string& method = "GET",
                      const std::string& extra = "") const {
    web::testing::Connection c(I().web_port);
    auto r = c.Get(path, extra, method);
    EXPECT_TRUE(r) << method << " " << path;
    return r.value_or(ClientResponse{});
  }

  // "scope source" of `address`'s unsubscriptions, ", "-separated.
  std::string Unsubscriptions(const std::string& address) const {
    return I().setup.Query(
        "SELECT coalesce(string_agg(scope || ' ' || source, ', ' ORDER BY scope), '') FROM unsubscriptions "
        "WHERE address = '" +
        address + "'");
  }
  std::string Count(const std::string& sql) const { return I().setup.Query("SELECT count(*) " + sql); }

  static inline bool started_ = false;
  static inline std::unique_ptr<Instance> instance_;
  static inline int sent_ = 0;
};

// The asker presses "Unsubscribe" in her mail client on an answer: it mails the mailto link.
TEST_F(UnsubscribeTest, TheMailtoLinkOfAnAnswerStopsThatThreadOnlyAndIsNeverAThread) {
  const std::string alice = Address("alice");
  const Question a = Ask("alice", "Laptop fan is loud");
  const Question b = Ask("alice", "Printer jams");
  const Links links = LinksIn(Mailed(Answer("bob", a, "Clean the fan."), alice, "answer"));
  const std::string threads_before = Count("FROM threads");

  const std::string unsubscribe =
      Send("alice", links.mailto, "unsubscribe", "This message will unsubscribe you.", true);
  EXPECT_EQ(Decided(unsubscribe),
            "unsubscribed " + alice + " unsubscribed from thread " + std::to_string(a.thread) + " (mailto)");
  EXPECT_EQ(Unsubscriptions(alice), "thread:" + std::to_string(a.thread) + " mailto");
  EXPECT_EQ(Count("FROM threads"), threads_before) << "no thread opened";
  EXPECT_EQ(PostOf(unsubscribe), 0);
  EXPECT_EQ(Count("FROM outbox WHERE recipient = '" + alice + "' AND kind = 'acknowledgement'"), "2")
      << "her two questions were acknowledged, the unsubscription was not";

  // The next answer in that thread is not mailed to her; one in her other thread is.
  const int64_t next = Answer("bob", a, "Or replace it.");
  const int64_t other = Answer("bob", b, "Open the tray.");
  EXPECT_EQ(Fate(next, alice, "answer"), "suppressed not sent: " + alice + " unsubscribed from thread " +
                                             std::to_string(a.thread) + " (mailto)");
  Mailed(other, alice, "answer");
  EXPECT_EQ(Fate(next, Address("watcher1"), "notification"), "sent ") << "the watcher is not affected";
}

// The same by the RFC 8058 one-click POST to mailforum-web; a GET of the link changes nothing.
TEST_F(UnsubscribeTest, TheOneClickLinkOfAnAnswerStopsThatThreadOnlyAndAGetChangesNothing) {
  const std::string carol = Address("carol");
  const Question a = Ask("carol", "Monitor flickers");
  const Question b = Ask("carol", "Keyboard sticks");
  const Links links = LinksIn(Mailed(Answer("dave", a, "Try another cable."), carol, "answer"));

  // A link scanner (or the person) fetches it: a page with a button, nothing recorded.
  const ClientResponse page = Http(links.path);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<form method=\"post\" action=\"" + links.path + "\">"), std::string::npos)
      << page.body;
  EXPECT_EQ(Http(links.path, "HEAD").status, 200);
  EXPECT_EQ(Unsubscriptions(carol), "");

  const ClientResponse done = OneClick(links.path);
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(Unsubscriptions(carol), "thread:" + std::to_string(a.thread) + " one-click");
  EXPECT_EQ(OneClick(links.path).status, 200) << "again: the same answer";

  const int64_t next = Answer("dave", a, "Or another monitor.");
  const int64_t other = Answer("dave", b, "Clean it.");
  EXPECT_EQ(Fate(next, carol, "answer"), "suppressed not sent: " + carol + " unsubscribed from thread " +
                                             std::to_string(a.thread) + " (one-click)");
  Mailed(other, carol, "answer");
}

// One character changed in the token, in the mailto address and in the https link: nobody is unsubscribed,
// the message is recorded as ignored (never a thread), the POST answers 404, and the mail still flows.
TEST_F(UnsubscribeTest, AForgedTokenUnsubscribesNobody) {
  const std::string erin = Address("erin");
  const Question a = Ask("erin", "Mouse is slow");
  const Links links = LinksIn(Mailed(Answer("frank", a, "New batteries."), erin, "answer"));
  const std::string forged = OneCharacterChanged(links.token());
  ASSERT_NE(forged, links.token());
  const std::string threads_before = Count("FROM threads");

  const std::string mailto =
      Send("erin", "help+unsub-" + forged + "@crash.example", "unsubscribe", "Unsubscribe me.", true);
  EXPECT_EQ(Decided(mailto), "ignored unsubscribe token in help+unsub-" + forged +
                                 "@crash.example does not verify: nothing changed");
  EXPECT_EQ(PostOf(mailto), 0);
  EXPECT_EQ(Count("FROM threads"), threads_before);
  for (const char* method : {"POST", "GET"}) {
    EXPECT_EQ(
        Http("/unsubscribe/" + forged, method,
             std::string(method) == "POST" ? "Content-Length: 26\r\n\r\nList-Unsubscribe=One-Click" : "")
            .status,
        404)
        << method;
  }
  EXPECT_EQ(Count("FROM unsubscriptions"), Count("FROM unsubscriptions WHERE address <> '" + erin + "'"));
  EXPECT_EQ(Count("FROM outbox WHERE recipient = '" + erin + "' AND kind = 'acknowledgement'"), "1");

  Mailed(Answer("frank", a, "Or a new mouse."), erin, "answer");
}

// A watcher's one-click on a notification stops that category's notifications to that watcher alone: the
// other watcher, the list and the asker still get theirs, and so does the watcher in another category. The
// list's mail has List-Id and no unsubscribe link, and a token naming it anyway is refused both ways.
TEST_F(UnsubscribeTest, AWatchersOneClickStopsThatCategoryForThatWatcherOnly) {
  const std::string w1 = Address("watcher1"), w2 = Address("watcher2"), list = Address("it-list");
  const std::string gina = Address("gina");
  const Question vpn = Ask("gina", "VPN drops every hour");
  const Question printer = Ask("gina", "Printer offline");
  const int64_t vpn_post = PostOf(vpn.id);
  const Links links = LinksIn(Mailed(vpn_post, w1, "notification"));

  const Received to_list = Mailed(vpn_post, list, "notification");
  EXPECT_EQ(Header(to_list, "List-Unsubscribe"), "");
  EXPECT_EQ(Header(to_list, "List-Unsubscribe-Post"), "");
  EXPECT_NE(Header(to_list, "List-Id").find("<it.crash.example>"), std::string::npos)
      << Header(to_list, "List-Id");

  ASSERT_EQ(OneClick(links.path).status, 200);
  EXPECT_EQ(Unsubscriptions(w1), "category:it one-click");

  const int64_t vpn_answer = Answer("harry", vpn, "Update the client.");
  const int64_t printer_answer = Answer("harry", printer, "Power cycle it.");
  EXPECT_EQ(Fate(vpn_answer, w1, "notification"),
            "suppressed not sent: " + w1 + " unsubscribed from category it (one-click)");
  Mailed(vpn_answer, w2, "notification");
  Mailed(vpn_answer, list, "notification");
  Mailed(vpn_answer, gina, "answer");
  Mailed(printer_answer, w1, "notification");
  const Question another = Ask("gina", "VPN again");
  EXPECT_EQ(Fate(PostOf(another.id), w1, "notification"),
            "suppressed not sent: " + w1 + " unsubscribed from category it (one-click)");
  Mailed(PostOf(another.id), w2, "notification");

  // No token is minted for the list; one signed for its row anyway (say, while it was a plain watcher)
  // unsubscribes nobody, by the web (403) or by mail (ignored, with the reason).
  const std::string list_row =
      I().setup.Query("SELECT id FROM outbox WHERE post_id = " + std::to_string(vpn_post) +
                      " AND recipient = '" + list + "'");
  const std::string token =
      mail::MakeUnsubscribeToken(std::stoull(list_row), list, "category:it", I().reply_key);
  EXPECT_EQ(OneClick("/unsubscribe/" + token).status, 403);
  const std::string by_mail =
      Send("member", "help+unsub-" + token + "@crash.example", "unsubscribe", "Unsubscribe.", true);
  EXPECT_EQ(Decided(by_mail),
            "ignored unsubscribe token in help+unsub-" + token +
                "@crash.example names mail to the mailing list " + list +
                " (categories[].lists), which one member cannot unsubscribe: nothing changed");
  EXPECT_EQ(Unsubscriptions(list), "");
}

// Writing in the thread again re-subscribes the asker, when her mail is DMARC-proven: a forged From does not.
TEST_F(UnsubscribeTest, AProvenReplyInTheThreadSubscribesTheAskerAgain) {
  const std::string ivy = Address("ivy");
  const Question a = Ask("ivy", "Badge does not open the door");
  const Links links = LinksIn(Mailed(Answer("jack", a, "Which door?"), ivy, "answer"));
  ASSERT_EQ(OneClick(links.path).status, 200);
  const std::string scope = "thread:" + std::to_string(a.thread);
  EXPECT_EQ(Unsubscriptions(ivy), scope + " one-click");

  // Anyone can write her address in From: that undoes nothing.
  const std::string forged = Send("ivy", "help@crash.example", "Re: badge", "The front door.", false, a.id);
  EXPECT_TRUE(Decided(forged).starts_with("posted")) << Decided(forged);
  EXPECT_EQ(Unsubscriptions(ivy), scope + " one-click");
  EXPECT_EQ(Fate(Answer("jack", a, "Try again now."), ivy, "answer"),
            "suppressed not sent: " + ivy + " unsubscribed from " + "thread " + std::to_string(a.thread) +
                " (one-click)");

  const std::string proven = Send("ivy", "help@crash.example", "Re: badge", "Still locked.", true, a.id);
  EXPECT_TRUE(Decided(proven).starts_with("posted")) << Decided(proven);
  EXPECT_EQ(Unsubscriptions(ivy), "");
  Mailed(Answer("jack", a, "Fixed it."), ivy, "answer");
}

}  // namespace

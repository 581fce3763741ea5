// The ingestion side of Store against the real PostgreSQL of scripts/test.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "forum/store_fixture.h"
#include "tests/support/test_env.h"

namespace forum {
namespace {

constexpr char kDomain[] = "help.example";

class InboundStoreTest : public ScratchStoreTest {
 protected:
  InboundStoreTest() : ScratchStoreTest("inbound", {{"general", "General", ""}, {"it", "IT", ""}}) {}

  static InboundItem Question(uint32_t uid, const std::string& message_id, const std::string& mailbox = "help") {
    InboundItem item;
    item.mailbox = mailbox;
    item.uidvalidity = 7;
    item.uid = uid;
    item.message_id = message_id;
    item.from_address = "alice@example.com";
    item.message_key = message_id + " alice@example.com";
    item.subject = "VPN drops";
    item.size = 100;
    item.classification = Classification::kNormal;
    item.outcome = Outcome::kPosted;
    item.rule = "rest";
    PostDraft post;
    post.category = "general";
    post.subject = "VPN drops";
    post.tags = {"vpn", "it's \"quoted\""};
    post.author_address = "alice@example.com";
    post.author_name = "Alice";
    post.body = "My VPN drops.";
    item.post = post;
    item.outbox = {{OutboxKind::kAcknowledgement, "alice@example.com"},
                   {OutboxKind::kNotification, "it-team@example.com"}};
    return item;
  }
  RecordResult RecordOk(const InboundItem& item) {
    auto batch = store_->RecordBatch({item}, kDomain);
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch) return {};
    EXPECT_TRUE((*batch)[0]) << (*batch)[0].error().message;
    return (*batch)[0] ? *(*batch)[0] : RecordResult{};
  }

};

TEST_F(InboundStoreTest, NewThreadThenAnswerFoundByMessageId) {
  RecordResult q = RecordOk(Question(1, "q1@client"));
  ASSERT_EQ(q.outcome, Outcome::kPosted);
  ASSERT_TRUE(q.thread_id && q.post_id);
  EXPECT_EQ(Scalar("SELECT tags[2] FROM threads"), "it's \"quoted\"");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox"), "2");
  // The notification carries the post's Message-ID; the acknowledgement its own.
  const std::string post_mid = Scalar("SELECT message_id FROM posts");
  EXPECT_EQ(post_mid.rfind("post." + std::to_string(*q.post_id) + ".", 0), 0u) << post_mid;
  EXPECT_EQ(Scalar("SELECT message_id FROM outbox WHERE kind = 'notification'"), post_mid);
  EXPECT_NE(Scalar("SELECT message_id FROM outbox WHERE kind = 'acknowledgement'"), post_mid);

  // A reply that references our outbound id, or the asker's own id, finds the thread.
  auto by_outbound = store_->FindThreadByMessageIds({"unknown@x", post_mid});
  ASSERT_TRUE(by_outbound);
  EXPECT_EQ(*by_outbound, q.thread_id);
  auto by_inbound = store_->FindThreadByMessageIds({"q1@client"});
  ASSERT_TRUE(by_inbound);
  EXPECT_EQ(*by_inbound, q.thread_id);
  EXPECT_FALSE(store_->FindThreadByMessageIds({"nothing@here"})->has_value());
  // The batch form: each known id with the same thread, unknown ids left out, in one call.
  auto each = store_->FindThreadsOfMessageIds({"unknown@x", post_mid, "q1@client", "q1@client"});
  ASSERT_TRUE(each) << each.error().message;
  EXPECT_EQ(*each, (std::map<std::string, int64_t>{{post_mid, *q.thread_id}, {"q1@client", *q.thread_id}}));
  EXPECT_TRUE(store_->FindThreadsOfMessageIds({})->empty());

  InboundItem answer = Question(2, "a1@client");
  answer.from_address = answer.post->author_address = "bob@example.com";
  answer.message_key = "a1@client bob@example.com";
  answer.post->thread_id = q.thread_id;
  RecordResult a = RecordOk(answer);
  EXPECT_EQ(a.thread_id, q.thread_id);
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "1");
  EXPECT_EQ(Scalar("SELECT status FROM threads"), "answered");
  EXPECT_EQ(Scalar("SELECT last_uid FROM mailbox_state WHERE mailbox = 'help'"), "2");
}

TEST_F(InboundStoreTest, ASearchVectorMadeAheadIsUsedOnlyForItsBodyAndConfiguration) {
  auto made = store_->MakeSearchVectors({"My VPN drops.", "Printers jam"});
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_EQ(made->size(), 2u);
  EXPECT_EQ((*made)[0].config, Scalar("SELECT mailforum_search_config()::text"));
  EXPECT_EQ((*made)[0].text_hash, std::hash<std::string>{}("My VPN drops."));
  EXPECT_TRUE(store_->MakeSearchVectors({})->empty());

  // The vector of other words, planted as the body's, shows which vector the recording used.
  SearchVector planted = (*made)[1];
  planted.text_hash = (*made)[0].text_hash;
  InboundItem ahead = Question(1, "q1@client");
  ahead.post->search = (*made)[0];
  InboundItem used = Question(2, "q2@client");
  used.post->search = planted;
  InboundItem other_body = Question(3, "q3@client");
  other_body.post->search = planted;
  other_body.post->body = "My VPN drops daily.";
  InboundItem other_config = Question(4, "q4@client");
  other_config.post->search = planted;
  other_config.post->search->config = "pg_catalog.simple";
  auto batch = store_->RecordBatch({ahead, used, other_body, other_config}, kDomain);
  ASSERT_TRUE(batch) << batch.error().message;
  const auto search_of = [&](int n) {
    return Scalar("SELECT search::text FROM posts ORDER BY id OFFSET " + std::to_string(n) + " LIMIT 1");
  };
  EXPECT_EQ(search_of(0), Scalar("SELECT mailforum_post_search('My VPN drops.')::text"));
  EXPECT_EQ(search_of(1), Scalar("SELECT mailforum_post_search('Printers jam')::text"));
  EXPECT_EQ(search_of(2), Scalar("SELECT mailforum_post_search('My VPN drops daily.')::text"));
  EXPECT_EQ(search_of(3), Scalar("SELECT mailforum_post_search('My VPN drops.')::text"));
  // A thread's vector holds its post's, whichever made it.
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads WHERE search @@ plainto_tsquery(mailforum_search_config(), "
                   "'printers')"),
            "1");
}

TEST_F(InboundStoreTest, ANewThreadIsInsertedWholeWithItsReplyAddressAndFirstPost) {
  // A question, its answer in the same batch (placeholder -1: the thread item 0 opens), another question.
  InboundItem answer = Question(2, "a1@client");
  answer.from_address = answer.post->author_address = "bob@example.com";
  answer.message_key = "a1@client bob@example.com";
  answer.post->thread_id = -1;
  answer.post->body = "Restart the router.";
  InboundItem other = Question(3, "q3@client");
  other.post->subject = "Printer";
  other.post->body = "The printer jams.";
  auto batch = store_->RecordBatch({Question(1, "q1@client"), answer, other}, kDomain, [](int64_t id) {
    return "help+t" + std::to_string(id) + "@help.example";
  });
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_TRUE((*batch)[0] && (*batch)[1] && (*batch)[2]);
  const std::string first = std::to_string(*(*batch)[0]->thread_id);
  const std::string second = std::to_string(*(*batch)[2]->thread_id);
  EXPECT_EQ((*batch)[1]->thread_id, (*batch)[0]->thread_id);
  EXPECT_EQ(Scalar("SELECT reply_address FROM threads WHERE id = " + first),
            "help+t" + first + "@help.example");
  EXPECT_EQ(Scalar("SELECT reply_address FROM threads WHERE id = " + second),
            "help+t" + second + "@help.example");
  EXPECT_EQ(Scalar("SELECT post_count FROM threads WHERE id = " + first), "2");
  EXPECT_EQ(Scalar("SELECT post_count FROM threads WHERE id = " + second), "1");
  // The vectors are those the triggers make when a thread or post is rebuilt (the answer's words appended).
  EXPECT_EQ(Scalar("SELECT bool_and(search = mailforum_post_search(body)) FROM posts"), "t");
  EXPECT_EQ(Scalar("SELECT search = mailforum_thread_search(id, subject) FROM threads WHERE id = " + second),
            "t");
  EXPECT_EQ(Scalar("SELECT array(SELECT unnest(tsvector_to_array(search)) ORDER BY 1) = "
                   "array(SELECT unnest(tsvector_to_array(mailforum_thread_search(id, subject))) ORDER BY 1) "
                   "FROM threads WHERE id = " +
                   first),
            "t");
  EXPECT_EQ(Scalar("SELECT search @@ 'router'::tsquery FROM threads WHERE id = " + first), "t");
  EXPECT_EQ(
      Scalar("SELECT subject_search = mailforum_subject_search(subject) FROM threads WHERE id = " + second),
      "t");
  EXPECT_EQ(Scalar("SELECT thread_count FROM categories WHERE slug = 'general'"), "2");
  // Without an address function the thread waits for FillReplyAddresses, and is otherwise the same.
  RecordResult plain = RecordOk(Question(4, "q4@client"));
  const std::string third = std::to_string(*plain.thread_id);
  EXPECT_EQ(Scalar("SELECT reply_address IS NULL AND post_count = 1 AND search = mailforum_thread_search(id, "
                   "subject) FROM threads WHERE id = " +
                   third),
            "t");
}

TEST_F(InboundStoreTest, SameUidTwiceChangesNothingSameKeyElsewhereIsDuplicate) {
  RecordOk(Question(1, "q1@client"));
  RecordResult again = RecordOk(Question(1, "q1@client"));
  EXPECT_TRUE(again.already_recorded);
  RecordResult other_mailbox = RecordOk(Question(9, "q1@client", "sales"));
  EXPECT_EQ(other_mailbox.outcome, Outcome::kDuplicate);
  EXPECT_FALSE(other_mailbox.post_id);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox"), "2");  // the duplicate queued nothing
}

TEST_F(InboundStoreTest, FailedItemRollsBackAloneAndHoldsTheCursor) {
  InboundItem bad = Question(2, "q2@client");
  bad.post->category = "no-such-category";
  auto batch = store_->RecordBatch({Question(1, "q1@client"), bad, Question(3, "q3@client")}, kDomain);
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_TRUE((*batch)[0]);
  EXPECT_FALSE((*batch)[1]);
  EXPECT_TRUE((*batch)[2]);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "2");
  // UID 2 is not recorded, so the cursor may not pass it.
  EXPECT_EQ(Scalar("SELECT last_uid FROM mailbox_state WHERE mailbox = 'help'"), "1");
}

// The batch's last statement writes its deferred inbound rows and moves the
// cursor of each of its mailboxes: forward only, and only within the
// UIDVALIDITY the mailbox is at.
TEST_F(InboundStoreTest, OneBatchMovesTheCursorOfEachOfItsMailboxesForwardOnly) {
  ASSERT_TRUE(store_->ResetMailbox("help", 7).ok());
  ASSERT_TRUE(store_->ResetMailbox("sales", 7).ok());
  auto quiet = [](uint32_t uid, const std::string& id, const std::string& mailbox) {
    InboundItem item = Question(uid, id, mailbox);
    item.outbox.clear();  // nothing else needs its inbound row: deferred to the last statement
    return item;
  };
  auto batch = store_->RecordBatch(
      {quiet(4, "a@c", "help"), quiet(2, "b@c", "sales"), quiet(5, "c@c", "help")}, kDomain);
  ASSERT_TRUE(batch) << batch.error().message;
  for (const auto& r : *batch) EXPECT_TRUE(r) << r.error().message;
  const std::string cursors =
      "SELECT string_agg(mailbox || '=' || last_uid, ',' ORDER BY mailbox) FROM mailbox_state";
  EXPECT_EQ(Scalar(cursors), "help=5,sales=2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'posted'"), "3");
  RecordOk(quiet(3, "d@c", "help"));  // recorded late: the cursor does not go back
  InboundItem other = quiet(9, "e@c", "sales");
  other.uidvalidity = 8;  // not the UIDVALIDITY sales is at: its cursor stays
  RecordOk(other);
  EXPECT_EQ(Scalar(cursors), "help=5,sales=2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), "5");
}

TEST_F(InboundStoreTest, PlaceholdersNameThreadsAndPostsOfTheSameBatch) {
  // Already recorded elsewhere: its copy in this batch is a duplicate, and a reply to it joins its thread.
  RecordResult earlier = RecordOk(Question(1, "dup@client", "sales"));
  InboundItem dup = Question(2, "dup@client");
  InboundItem question = Question(3, "q@client");
  InboundItem answer = Question(4, "a@client");
  answer.from_address = answer.post->author_address = "bob@example.com";
  answer.message_key = "a@client bob@example.com";
  answer.post->thread_id = -2;  // item 1 of the batch: question's new thread
  InboundItem to_dup = Question(5, "d@client");
  to_dup.message_key = "d@client alice@example.com";
  to_dup.post->thread_id = -1;  // item 0: the duplicate, whose thread is earlier's
  InboundItem accept = Question(6, "acc@client");
  accept.message_key = "acc@client alice@example.com";
  accept.outcome = Outcome::kIgnored;
  accept.post.reset();
  accept.outbox.clear();
  accept.thread_update = ThreadUpdate{-2, ThreadUpdate::Status::kResolved, -3};  // answer's post accepted
  InboundItem bad = Question(7, "bad@client");
  bad.post->category = "no-such-category";
  InboundItem to_bad = Question(8, "tb@client");
  to_bad.message_key = "tb@client alice@example.com";
  to_bad.post->thread_id = -6;  // item 5: failed, so this one cannot be stored either
  auto batch = store_->RecordBatch({dup, question, answer, to_dup, accept, bad, to_bad}, kDomain);
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 7u);
  for (size_t i : {0u, 1u, 2u, 3u, 4u}) ASSERT_TRUE((*batch)[i]) << i << ": " << (*batch)[i].error().message;
  EXPECT_FALSE((*batch)[5]);
  EXPECT_FALSE((*batch)[6]);
  EXPECT_EQ((*batch)[0]->outcome, Outcome::kDuplicate);
  EXPECT_EQ((*batch)[2]->thread_id, (*batch)[1]->thread_id);
  EXPECT_EQ((*batch)[3]->thread_id, earlier.thread_id);
  const std::string thread = std::to_string(*(*batch)[1]->thread_id);
  EXPECT_EQ(Scalar("SELECT status || ' ' || accepted_post_id FROM threads WHERE id = " + thread),
            "resolved " + std::to_string(*(*batch)[2]->post_id));
}

TEST_F(InboundStoreTest, QuarantineKeepsRawBytesAndPostActionsArePending) {
  InboundItem poison = Question(4, "");
  poison.message_key = "sha256:abcd";
  poison.outcome = Outcome::kQuarantined;
  poison.post.reset();
  poison.outbox.clear();
  poison.raw = std::string("Subject: \xff\xfe broken\r\n\r\nbody\0with NUL", 36);
  poison.reason = "not an email";
  RecordOk(poison);
  EXPECT_EQ(Scalar("SELECT length(raw) FROM inbound_messages WHERE uid = 4"), "36");
  EXPECT_EQ(Scalar("SELECT encode(substring(raw from 10 for 2), 'hex') FROM inbound_messages"), "fffe");
  RecordOk(Question(5, "q5@client"));
  auto pending = store_->PendingPostActions("help", 7);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].outcome, Outcome::kQuarantined);
  ASSERT_TRUE(store_->MarkPostActionsDone("help", 7, {4, 5}).ok());
  EXPECT_TRUE(store_->PendingPostActions("help", 7)->empty());
}

TEST_F(InboundStoreTest, RejectionNoticeOncePerAddressPerDayAndBounceScores) {
  for (uint32_t uid = 1; uid <= 3; ++uid) {
    InboundItem r = Question(uid, "r" + std::to_string(uid) + "@client");
    r.outcome = Outcome::kRejected;
    r.post.reset();
    r.outbox = {{OutboxKind::kRejection, "Mallory@Example.com"}};
    RecordOk(r);
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE kind = 'rejection'"), "1");

  InboundItem bounce = Question(4, "b1@mta");
  bounce.outcome = Outcome::kMachine;
  bounce.classification = Classification::kBounce;
  bounce.post.reset();
  bounce.outbox.clear();
  bounce.bounces = {{"gone@example.com", true, "userunknown"}, {"full@example.com", false, "mailboxfull"}};
  RecordOk(bounce);
  // Issue 8 item 4: a bounce that names no outbox row of ours is anyone's word: no score.
  EXPECT_EQ(Scalar("SELECT outcome FROM inbound_messages WHERE uid = 4"), "machine");
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions"), "0");
}

// Issue 8 item 4: three forged DSNs listing the help team's addresses as
// hard failures leave their scores as they were; a DSN to the return path
// of a row of ours scores that row's recipient and nobody else it lists.
TEST_F(InboundStoreTest, OnlyABounceToOneOfOurRowsScoresAndOnlyItsRecipient) {
  RecordOk(Question(1, "q1@client"));  // queues an acknowledgement to alice, a notification to it-team
  for (uint32_t uid = 2; uid <= 4; ++uid) {
    InboundItem forged = Question(uid, "forged" + std::to_string(uid) + "@mta");
    forged.from_address = "mailer-daemon@mta.example";
    forged.message_key = forged.message_id + " mailer-daemon@mta.example";
    forged.outcome = Outcome::kMachine;
    forged.classification = Classification::kBounce;
    forged.post.reset();
    forged.outbox.clear();
    forged.bounces = {{"it-team@example.com", true, "userunknown"},
                      {"alice@example.com", true, "userunknown"}};
    RecordOk(forged);
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'bounced'"), "0");

  const std::string ack = Scalar("SELECT id FROM outbox WHERE kind = 'acknowledgement'");
  InboundItem dsn = Question(5, "dsn5@mta");
  dsn.message_key = "dsn5@mta mailer-daemon@mta.example";
  dsn.outcome = Outcome::kMachine;
  dsn.classification = Classification::kBounce;
  dsn.post.reset();
  dsn.outbox.clear();
  // It lists the help team too, and the acknowledgement's recipient in capitals.
  dsn.bounces = {{"it-team@example.com", true, "userunknown"}, {"Alice@Example.com", false, "mailboxfull"}};
  dsn.bounced_outbox_id = std::stoll(ack);
  RecordOk(dsn);
  EXPECT_EQ(Scalar("SELECT status FROM outbox WHERE id = " + ack), "bounced");
  EXPECT_EQ(Scalar("SELECT address || ' ' || bounce_score || ' ' || soft_bounces || ' ' || hard_bounces "
                   "FROM suppressions"),
            "alice@example.com 0.25 1 0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions"), "1");
}

TEST_F(InboundStoreTest, MailboxStateAndRateCounts) {
  EXPECT_FALSE(store_->GetMailboxState("help")->has_value());
  ASSERT_TRUE(store_->ResetMailbox("help", 7).ok());
  RecordOk(Question(3, "q3@client"));
  auto state = store_->GetMailboxState("help");
  ASSERT_TRUE(state && state->has_value());
  EXPECT_EQ((*state)->uidvalidity, 7u);
  EXPECT_EQ((*state)->last_uid, 3u);
  ASSERT_TRUE(store_->ResetMailbox("help", 8).ok());
  EXPECT_EQ((*store_->GetMailboxState("help"))->last_uid, 0u);
  EXPECT_EQ(*store_->CountThreadsOpenedSince("ALICE@example.com", 3600), 1);
  EXPECT_EQ(*store_->CountThreadsOpenedSince("bob@example.com", 3600), 0);
  // The batch form: keyed by lower-case address, every address present.
  auto each = store_->CountThreadsOpenedSinceEach({"ALICE@example.com", "bob@example.com"}, 3600);
  ASSERT_TRUE(each) << each.error().message;
  EXPECT_EQ(*each, (std::map<std::string, int64_t>{{"alice@example.com", 1}, {"bob@example.com", 0}}));
}

TEST_F(InboundStoreTest, MailboxLockIsExclusiveUntilItsConnectionCloses) {
  auto other = Open();
  ASSERT_TRUE(*store_->TryLockMailbox("help"));
  EXPECT_FALSE(*other->TryLockMailbox("help"));
  EXPECT_TRUE(*other->TryLockMailbox("sales"));
  store_.reset();  // the owner dies; its server process lets go of the lock as it exits, a moment later
  bool taken = false;
  for (int i = 0; i < 400 && !taken; ++i) {  // up to 20 s: the server may be busy with other tests
    taken = *other->TryLockMailbox("help");
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(taken);
}

TEST_F(InboundStoreTest, LockIsKnownLostAfterTheSessionDies) {
  EXPECT_TRUE(store_->CheckConnection().ok());
  ASSERT_TRUE(*store_->TryLockMailbox("help"));
  auto session = store_->SessionId();
  ASSERT_TRUE(session.ok()) << session.error().message;
  auto other = Open();
  EXPECT_NE(*other->SessionId(), *session);
  // The server ends our session (a restart, an admin): whatever libpqxx does next, it must never claim the lock.
  // Only the session holding the lock in this test's own scratch database: ctest runs tests side by side
  // on one server, and their sessions hold advisory locks of their own.
  auto terminated = QueryScalar(dsn_,
                                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM ("
                                "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
                                "AND l.pid <> pg_backend_pid()) holders");
  ASSERT_TRUE(terminated) << terminated.error().message;
  ASSERT_EQ(*terminated, "1");
  // Seen without a query once the server's goodbye has arrived.
  const base::Status check = WaitUntilClosed([&] { return store_->CheckConnection(); });
  ASSERT_FALSE(check.ok()) << "a terminated session still looks open";
  EXPECT_EQ(check.error().kind, base::ErrorKind::kTransient) << check.error().message;
  for (int i = 0; i < 3; ++i) {
    auto now = store_->SessionId();
    EXPECT_FALSE(now && *now == *session) << "attempt " << i;
  }
}

TEST_F(InboundStoreTest, TwoDaemonsRecordingTheSameMessageMakeOnePost) {
  std::vector<std::thread> daemons;
  std::atomic<int> posted{0}, duplicates{0}, errors{0};
  for (int d = 0; d < 2; ++d) {
    daemons.emplace_back([&, d] {
      auto store = Store::Connect(dsn_);
      if (!store) {
        ++errors;
        return;
      }
      for (uint32_t uid = 1; uid <= 50; ++uid) {
        auto batch = (*store)->RecordBatch({Question(uid, "m" + std::to_string(uid) + "@c", "box" + std::to_string(d))},
                                           kDomain);
        if (!batch || !(*batch)[0]) {
          ADD_FAILURE() << (batch ? (*batch)[0].error().message : batch.error().message);
          ++errors;
        } else if ((*batch)[0]->outcome == Outcome::kPosted) {
          ++posted;
        } else if ((*batch)[0]->outcome == Outcome::kDuplicate) {
          ++duplicates;
        }
      }
    });
  }
  for (auto& t : daemons) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(posted.load(), 50);
  EXPECT_EQ(duplicates.load(), 50);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "50");
}

TEST_F(InboundStoreTest, MailedDomainKnowsWhichOfOurMailWentWhere) {
  RecordOk(Question(1, "q1@client"));  // an acknowledgement to example.com, a notification to example.com
  InboundItem other = Question(2, "q2@client");
  other.outbox = {{OutboxKind::kNotification, "watcher@other.example"}};
  RecordOk(other);
  const std::string post_id = Scalar("SELECT message_id FROM posts ORDER BY id LIMIT 1");
  const std::string ack_id = Scalar("SELECT message_id FROM outbox WHERE kind = 'acknowledgement'");
  const int64_t ack_row = std::stoll(Scalar("SELECT id FROM outbox WHERE kind = 'acknowledgement'"));
  const int64_t other_row =
      std::stoll(Scalar("SELECT id FROM outbox WHERE recipient = 'watcher@other.example'"));
  struct Case {
    std::string domain;
    std::optional<int64_t> row;
    std::vector<std::string> ids;
    bool mailed;
  };
  for (const Case& c : std::vector<Case>{
           {"example.com", std::nullopt, {}, false},
           {"example.com",
            std::nullopt,
            {"q1@client"},
            false},  // the asker's own id: anyone who wrote it knows it
           {"example.com", std::nullopt, {"nothing@here", "post.1.xxxx@help.example"}, false},
           {"example.com", std::nullopt, {"nothing@here", post_id}, true},
           {"example.com", std::nullopt, {ack_id}, true},
           {"other.example", std::nullopt, {ack_id, post_id}, false},  // ours, but not sent there
           {"example.com", ack_row, {}, true},
           {"other.example", ack_row, {}, false},
           {"other.example", other_row, {}, true},
           {"", ack_row, {ack_id}, false}}) {
    auto got = store_->MailedDomain(c.domain, c.row, c.ids);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, c.mailed) << c.domain << " " << c.row.value_or(0) << " " << c.ids.size();
  }
}

// Issue 8 item 8: acknowledgements and rejection notices together are capped
// per recipient domain and overall per hour; a capped one is not queued (nor
// does it use up the address's daily rejection), and the trace says why.
TEST_F(InboundStoreTest, NoticesAreCappedPerDomainAndOverallPerHour) {
  uint32_t uid = 0;
  auto notice = [&](const std::string& kind, const std::string& to, int per_domain, int overall) {
    ++uid;
    InboundItem item = Question(uid, "n" + std::to_string(uid) + "@client");
    item.from_address = to;
    item.message_key = item.message_id + " " + to;
    if (kind == "rejection") {
      item.outcome = Outcome::kRejected;
      item.post.reset();
    } else {
      item.post->author_address = to;
    }
    item.reason = "decided";
    OutboxDraft draft{*ParseOutboxKind(kind), to};
    draft.max_per_domain_per_hour = per_domain;
    draft.max_per_hour = overall;
    item.outbox = {draft};
    RecordOk(item);
    return Scalar("SELECT reason FROM inbound_messages WHERE uid = " + std::to_string(uid));
  };
  // Three to corp.example (acknowledgements and a rejection), under a cap of 3 per domain.
  EXPECT_EQ(notice("acknowledgement", "a@corp.example", 3, 100), "decided");
  EXPECT_EQ(notice("rejection", "b@corp.example", 3, 100), "decided");
  EXPECT_EQ(notice("acknowledgement", "c@Corp.Example", 3, 100), "decided");
  // The fourth is not queued and says why; nor does it use up d's rejection of the day.
  EXPECT_EQ(
      notice("rejection", "d@corp.example", 3, 100),
      "decided; no rejection queued: 3 acknowledgements and rejection notices went to corp.example in the "
      "last hour (auto_replies_per_domain_per_hour)");
  EXPECT_EQ(Scalar("SELECT count(*) FROM rejection_notices WHERE address = 'd@corp.example'"), "0");
  // Another domain is not held back by corp.example's cap; the overall cap (4 here) is.
  EXPECT_EQ(notice("acknowledgement", "e@other.example", 3, 4), "decided");
  EXPECT_EQ(
      notice("acknowledgement", "f@third.example", 3, 4),
      "decided; no acknowledgement queued: 4 acknowledgements and rejection notices went out in the last "
      "hour (auto_replies_per_hour)");
  // Without caps (0) nothing is held back; notifications never are.
  EXPECT_EQ(notice("acknowledgement", "g@corp.example", 0, 0), "decided");
  EXPECT_EQ(Scalar("SELECT string_agg(recipient, ',' ORDER BY id) FROM outbox "
                   "WHERE kind IN ('acknowledgement', 'rejection')"),
            "a@corp.example,b@corp.example,c@corp.example,e@other.example,g@corp.example");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE kind = 'notification'"), "0");
}

}  // namespace
}  // namespace forum

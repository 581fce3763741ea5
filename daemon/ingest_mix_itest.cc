// Acceptance of issue 4 against the real Dovecot and PostgreSQL: 500 mixed
// messages — questions from many senders (with attachments, HTML-only, in
// non-UTF-8 charsets), replies by reply token, replies by References only,
// auto-replies of several kinds, bounces (an RFC 3464 DSN and a qmail
// free-text report) and a malformed message — become exactly the threads and
// posts that the generator below expects, message by message. Machine mail
// is never posted, bounces that are not to our return path score nobody, the
// malformed message is quarantined with its raw bytes, and the inbox ends
// empty.
//
// Two phases, because reply tokens name threads: the first ingests the
// questions (with the replies that need no token), the second the replies
// addressed to help+TOKEN@example.com of the threads the first one made.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/worker_itest_support.h"
#include "forum/scratch_database.h"
#include "mail/reply_token.h"
#include "mail/sha256.h"

namespace mailforumd {
namespace {

using itest::kReplyKey;
using itest::kReplyTemplate;
using itest::Mail;
using itest::MailHeaders;

constexpr int kMessages = 500;
constexpr int kQuestions = 240;
constexpr int kSenders = 60;  // 4 questions each: well under the default 20 new threads per sender per hour

// What must become of a generated message.
enum class Fate { kNewThread, kAnswer, kAutoReply, kBounce, kQuarantined };

struct Generated {
  std::string raw;
  std::string message_id;  // without angle brackets; "" for the malformed message
  Fate fate = Fate::kNewThread;
  std::string thread_of;     // kNewThread, kAnswer: the Message-ID of the thread's first message
  bool it_category = false;  // kNewThread: the "it" rule matches its subject
  std::string bounced;       // kBounce: the failed address (a hard failure)
};

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string QuestionId(int q) { return "q" + std::to_string(q) + "@mix.client"; }

// Question q, in one of six shapes. The bodies carry marks the test looks for in the posts.
Generated Question(int q) {
  const std::string n = std::to_string(q);
  const std::string from =
      "Asker " + std::to_string(q % kSenders) + " <asker" + std::to_string(q % kSenders) + "@example.com>";
  const int shape = q % 6;
  const bool vpn = q % 5 == 0 && shape != 3;
  const std::string subject = vpn ? "VPN down " + n : "Printer question " + n;
  Generated g;
  g.message_id = QuestionId(q);
  g.thread_of = g.message_id;
  g.it_category = vpn;
  switch (shape) {
    case 0:  // plain UTF-8 text
      g.raw =
          Mail(from, subject, g.message_id, "Question " + n + ": the printer says \xC3\xA9rror. What now?");
      break;
    case 1: {  // text and an attachment (three distinct contents, stored once each)
      const std::string b = "mixb" + n;
      const std::string file = "log" + std::to_string(q / 6 % 3) + ".pdf";
      g.raw = MailHeaders(from, "help@example.com", subject, g.message_id) +
              "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b +
              "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nQuestion " + n +
              ": see the attached log.\r\n--" + b + "\r\nContent-Type: application/pdf; name=\"" + file +
              "\"\r\nContent-Disposition: attachment; filename=\"" + file +
              "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
              Base64("%PDF-1.4 fake log " + std::to_string(q / 6 % 3) + "\n%%EOF\n") + "\r\n--" + b +
              "--\r\n";
      break;
    }
    case 2:  // HTML only
      g.raw = MailHeaders(from, "help@example.com", subject, g.message_id) +
              "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Question " + n +
              ": the <b>monitor</b> flickers.</p><p>Since Monday.</p></body></html>\r\n";
      break;
    case 3:  // ISO-8859-1, 8bit, with an encoded-word subject
      g.raw =
          MailHeaders(from, "help@example.com", "=?ISO-8859-1?Q?Caf=E9_machine_" + n + "?=", g.message_id) +
          "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
          "The caf\xE9 machine " +
          n + " is broken.\r\n";
      break;
    case 4:  // KOI8-R in base64: "Привет"
      g.raw = MailHeaders(from, "help@example.com", subject, g.message_id) +
              "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
              Base64("\xF0\xD2\xC9\xD7\xC5\xD4, question " + n + "\r\n") + "\r\n";
      break;
    default:  // windows-1252, quoted-printable: "€"
      g.raw = MailHeaders(from, "help@example.com", subject, g.message_id) +
              "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "The taxi to site " +
              n + " cost 20 =80.\r\n";
      break;
  }
  return g;
}

// An answer quoting the question below it (the trimmer cuts the quote).
std::string AnswerBody(const std::string& what) {
  return what + "\r\n\r\nOn Wed, 25 Nov 2026 at 09:00, Asker wrote:\r\n> The question\r\n> with two lines";
}

// A reply that carries no token: only In-Reply-To/References can place it in `thread_of`'s thread.
Generated ReferencesReply(int n, const std::string& parent_id, const std::string& thread_of) {
  Generated g;
  g.message_id = "ref" + std::to_string(n) + "@mix.client";
  g.fate = Fate::kAnswer;
  g.thread_of = thread_of;
  // Half name the parent in In-Reply-To; the others only at the end of a References chain.
  const std::string threading =
      n % 2 == 0 ? "In-Reply-To: <" + parent_id + ">\r\nReferences: <" + parent_id + ">\r\n"
                 : "References: <unknown" + std::to_string(n) + "@elsewhere> <" + parent_id + ">\r\n";
  g.raw = Mail("helper" + std::to_string(n % 7) + "@example.com", "Re: your question", g.message_id,
               AnswerBody("Answer " + std::to_string(n) + ": restart the spooler."), threading);
  return g;
}

// A reply addressed to the thread's reply address (in To, or in Cc), with no References.
Generated TokenReply(const std::string& id, const std::string& from, int64_t thread,
                     const std::string& thread_of, bool in_cc) {
  Generated g;
  g.message_id = id;
  g.fate = Fate::kAnswer;
  g.thread_of = thread_of;
  const std::string address = mail::ReplyAddress(kReplyTemplate, static_cast<uint64_t>(thread), kReplyKey);
  const std::string to = in_cc ? "colleague@example.com" : address;
  g.raw = MailHeaders(from, to, "Re: your question", id, in_cc ? "Cc: " + address + "\r\n" : "") +
          "Content-Type: text/plain; charset=utf-8\r\n\r\n" +
          AnswerBody("Reply " + id + ": it works again.") + "\r\n";
  return g;
}

// An auto-reply of kind n % 4 to a message with `parent_id`, sent to `to`.
Generated AutoReply(int n, const std::string& parent_id, const std::string& to) {
  Generated g;
  g.message_id = "auto" + std::to_string(n) + "@mix.client";
  g.fate = Fate::kAutoReply;
  std::string subject = "Re: your question";
  std::string extra = "In-Reply-To: <" + parent_id + ">\r\n";
  switch (n % 4) {
    case 0:
      extra += "Auto-Submitted: auto-replied\r\n";
      break;  // RFC 3834
    case 1:
      extra += "X-MS-Exchange-Inbox-Rules-Loop: away@example.com\r\n";
      break;  // Exchange inbox rule
    case 2:
      subject = "Automatic reply: your question";
      break;  // Outlook's subject only
    default:
      subject = "Out of Office: back on Monday";
      break;
  }
  g.raw = MailHeaders("Away " + std::to_string(n) + " <away" + std::to_string(n) + "@example.com>", to,
                      subject, g.message_id, extra) +
          "Content-Type: text/plain; charset=utf-8\r\n\r\nI am out of the office until Monday.\r\n";
  return g;
}

// A bounce of our answer to `address`: an RFC 3464 DSN (even n) or a qmail free-text report (odd n).
Generated Bounce(int n, const std::string& address) {
  Generated g;
  g.message_id = "bounce" + std::to_string(n) + "@mx.example.net";
  g.fate = Fate::kBounce;
  g.bounced = address;
  const std::string returned =
      "From: help@example.com\r\nTo: " + address +
      "\r\nSubject: Re: Printer question\r\nMessage-ID: <post.1.abcd@help.example>\r\n";
  if (n % 2 == 0) {
    const std::string b = "dsn" + std::to_string(n);
    g.raw =
        MailHeaders("Mail Delivery System <MAILER-DAEMON@mx.example.net>", "help@example.com",
                    "Undelivered Mail Returned to Sender", g.message_id, "Auto-Submitted: auto-replied\r\n") +
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"" + b + "\"\r\n\r\n--" + b +
        "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system at host "
        "mx.example.net.\r\n"
        "Your message could not be delivered to one or more recipients.\r\n\r\n--" +
        b +
        "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; " +
        address +
        "\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <" +
        address + ">: Recipient address rejected: User unknown\r\n\r\n--" + b +
        "\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + "\r\n--" + b + "--\r\n";
  } else {
    g.raw = MailHeaders("MAILER-DAEMON@mx.example.org", "help@example.com", "failure notice", g.message_id) +
            "\r\nHi. This is the qmail-send program at mx.example.org.\r\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<" +
            address +
            ">:\r\n"
            "192.0.2.25 does not like recipient.\r\nRemote host said: 550 5.1.1 <" +
            address +
            ">... User unknown\r\nGiving up on 192.0.2.25.\r\n\r\n"
            "--- Below this line is a copy of the message.\r\n\r\nReturn-Path: <help@example.com>\r\n" +
            returned + "\r\nThe answer.\r\n";
  }
  return g;
}

Generated Malformed() {
  Generated g;
  g.fate = Fate::kQuarantined;
  g.raw = "this is not an email at all, just some bytes\r\n\x01\x02\x03 and more\r\n";
  return g;
}

// What phase 2 needs to know about the threads of phase 1.
struct Posted {
  int64_t thread_id = 0;
  std::string our_message_id;  // the Message-ID of the post's mail to watchers and askers
};

class IngestMixTest : public itest::WorkerTest {
 protected:
  IngestMixTest() : WorkerTest("mix") {}

  // Every posted inbound message: its Message-ID → its post's thread and our Message-ID of the post.
  std::map<std::string, Posted> PostedMessages() const {
    std::map<std::string, Posted> out;
    auto rows = forum::QueryScalar(
        dsn_,
        "SELECT string_agg(i.message_id || ' ' || p.thread_id || ' ' || p.message_id, E'\\n') "
        "FROM inbound_messages i JOIN posts p ON p.id = i.post_id WHERE i.outcome = 'posted'");
    EXPECT_TRUE(rows) << rows.error().message;
    if (!rows) return out;
    std::istringstream in(*rows);
    for (std::string id, thread, ours; in >> id >> thread >> ours;) out[id] = {std::stoll(thread), ours};
    return out;
  }

  // Every inbound message with a Message-ID: → "outcome/classification".
  std::map<std::string, std::string> Outcomes() const {
    std::map<std::string, std::string> out;
    auto rows = forum::QueryScalar(dsn_,
                                   "SELECT string_agg(message_id || ' ' || outcome || '/' || classification, "
                                   "E'\\n') FROM inbound_messages WHERE message_id IS NOT NULL");
    EXPECT_TRUE(rows) << rows.error().message;
    if (!rows) return out;
    std::istringstream in(*rows);
    for (std::string id, fate; in >> id >> fate;) out[id] = fate;
    return out;
  }
};

TEST_F(IngestMixTest, FiveHundredMixedMessagesMakeExactlyTheExpectedThreadsAndPosts) {
  const std::string user = itest::UniqueName("mix");
  WorkerOptions options = Options("mix", user);
  options.batch_size = 25;  // a question and the reply right after it usually share a batch
  MailboxWorker worker(options);
  std::vector<Generated> all;
  int refs = 0, autos = 0, bounces = 0;
  auto bounce_address = [&] {
    // DSNs for four addresses of example.net, qmail reports for three of example.org.
    return bounces % 2 == 0 ? "gone" + std::to_string(bounces / 2 % 4) + "@example.net"
                            : "lost" + std::to_string(bounces / 2 % 3) + "@example.org";
  };

  // Phase 1: questions, replies by References (some right after their question, some later),
  // auto-replies, bounces and the malformed message.
  std::vector<Generated> phase1;
  for (int q = 0; q < kQuestions; ++q) {
    phase1.push_back(Question(q));
    if (q % 8 == 7) phase1.push_back(ReferencesReply(refs++, QuestionId(q), QuestionId(q)));
    if (q % 8 == 3) phase1.push_back(ReferencesReply(refs++, QuestionId(q - 3), QuestionId(q - 3)));
    if (q % 20 == 10) phase1.push_back(AutoReply(autos++, QuestionId(q), "help@example.com"));
    if (q % 15 == 12) {
      phase1.push_back(Bounce(bounces, bounce_address()));
      ++bounces;
    }
    if (q == 100) phase1.push_back(Malformed());
  }
  std::vector<std::string> raws;
  for (const auto& g : phase1) raws.push_back(g.raw);
  Append(user, raws);
  ASSERT_TRUE(worker.RunOnce().ok());
  all = phase1;

  // Phase 2: replies by token to the threads made in phase 1 (in To or Cc), replies to our own
  // outbound Message-ID (References only), auto-replies to reply addresses, more bounces, forged
  // tokens and a valid token of a thread that does not exist (both open new threads).
  const std::map<std::string, Posted> posted = PostedMessages();
  auto thread_of = [&](int q) {
    auto it = posted.find(QuestionId(q));
    return it == posted.end() ? Posted{} : it->second;
  };
  ASSERT_NE(thread_of(0).thread_id, 0) << "question 0 made no thread in phase 1";
  std::vector<Generated> phase2;
  for (int q = 0; q < kQuestions; ++q) {
    const Posted p = thread_of(q);
    if (q % 3 == 0) {
      phase2.push_back(TokenReply("tok" + std::to_string(q) + "@mix.client",
                                  "helper" + std::to_string(q % 5) + "@example.com", p.thread_id,
                                  QuestionId(q), q % 9 == 0));
    }
    if (q % 10 == 1) phase2.push_back(ReferencesReply(refs++, p.our_message_id, QuestionId(q)));
    if (q % 20 == 5) {
      phase2.push_back(
          AutoReply(autos++, p.our_message_id,
                    mail::ReplyAddress(kReplyTemplate, static_cast<uint64_t>(p.thread_id), kReplyKey)));
    }
    if (q % 24 == 0) {
      phase2.push_back(Bounce(bounces, bounce_address()));
      ++bounces;
    }
  }
  for (int i = 0; i < 2; ++i) {
    // A damaged token: never trusted, so the message opens a thread of its own.
    Generated forged = TokenReply("forged" + std::to_string(i) + "@mix.client", "mallory@example.com",
                                  thread_of(i).thread_id, "", false);
    std::string token = mail::MakeReplyToken(static_cast<uint64_t>(thread_of(i).thread_id), kReplyKey);
    const size_t at = forged.raw.find(token);
    ASSERT_NE(at, std::string::npos);
    forged.raw[at + 5] = forged.raw[at + 5] == 'a' ? 'b' : 'a';
    forged.fate = Fate::kNewThread;
    forged.thread_of = forged.message_id;
    phase2.push_back(forged);
  }
  Generated ghost = TokenReply("ghost@mix.client", "ghost@example.com", 999999999, "", false);
  ghost.fate = Fate::kNewThread;  // the token verifies, but its thread does not exist
  ghost.thread_of = ghost.message_id;
  phase2.push_back(ghost);
  // Follow-ups of askers in their own threads, by token, up to 500 messages in all.
  for (int q = 0; all.size() + phase2.size() < static_cast<size_t>(kMessages); ++q) {
    phase2.push_back(TokenReply("followup" + std::to_string(q) + "@mix.client",
                                "asker" + std::to_string(q % kSenders) + "@example.com",
                                thread_of(q).thread_id, QuestionId(q), false));
  }
  raws.clear();
  for (const auto& g : phase2) raws.push_back(g.raw);
  Append(user, raws);
  ASSERT_TRUE(worker.RunOnce().ok());
  all.insert(all.end(), phase2.begin(), phase2.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kMessages));

  // The expectation, from the generator alone.
  int threads = 0, answers = 0, machine = 0, it_threads = 0;
  std::map<std::string, int> bounced;
  for (const auto& g : all) {
    threads += g.fate == Fate::kNewThread;
    answers += g.fate == Fate::kAnswer;
    machine += g.fate == Fate::kAutoReply || g.fate == Fate::kBounce;
    it_threads += g.fate == Fate::kNewThread && g.it_category;
    if (g.fate == Fate::kBounce) ++bounced[g.bounced];
  }
  std::printf("generated: %d new threads (%d it), %d answers, %d auto-replies, %d bounces, 1 malformed\n",
              threads, it_threads, answers, autos, bounces);
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), std::to_string(kMessages));
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), std::to_string(threads));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), std::to_string(threads + answers));
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM threads t JOIN categories c ON c.id = t.category_id WHERE c.slug = 'it'"),
      std::to_string(it_threads));

  // Message by message: the outcome, and the thread each post landed in.
  const std::map<std::string, Posted> final_posts = PostedMessages();
  const std::map<std::string, std::string> outcomes = Outcomes();
  for (const auto& g : all) {
    if (g.fate == Fate::kQuarantined) continue;
    const auto outcome = outcomes.find(g.message_id);
    ASSERT_NE(outcome, outcomes.end()) << g.message_id << " was not recorded";
    switch (g.fate) {
      case Fate::kNewThread:
      case Fate::kAnswer: {
        EXPECT_EQ(outcome->second, "posted/normal") << g.message_id;
        const auto post = final_posts.find(g.message_id);
        const auto first = final_posts.find(g.thread_of);
        if (post == final_posts.end() || first == final_posts.end()) break;
        EXPECT_EQ(post->second.thread_id, first->second.thread_id)
            << g.message_id << " should be in the thread of " << g.thread_of;
        break;
      }
      case Fate::kAutoReply:
        EXPECT_EQ(outcome->second, "machine/auto_reply") << g.message_id;
        break;
      case Fate::kBounce:
        EXPECT_EQ(outcome->second, "machine/bounce") << g.message_id;
        break;
      case Fate::kQuarantined:
        break;
    }
  }
  // New threads are distinct: every kNewThread message is the first post of its own thread.
  EXPECT_EQ(
      Scalar("SELECT count(DISTINCT p.thread_id) FROM inbound_messages i JOIN posts p ON p.id = i.post_id"),
      std::to_string(threads));

  // Machine mail is never posted and its Message-IDs lead nowhere.
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine'"),
            std::to_string(machine));
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine' AND post_id IS NOT NULL"),
            "0");
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM message_ids m JOIN inbound_messages i ON i.message_id = m.message_id "
             "WHERE i.outcome = 'machine'"),
      "0");
  // These bounces came to help@, not to a return path of ours: anyone could
  // have written them, so they score nobody (issue 8 item 4), and the trace
  // says what each claimed.
  for (const auto& [address, count] : bounced) {
    EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE classification = 'bounce' AND reason LIKE "
                     "'%no score changed%" +
                     address + " hard%'"),
              std::to_string(count))
        << address;
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions"), "0");

  // Attachments, HTML-only mail and the charsets arrived as text.
  const int per_shape = kQuestions / 6;
  EXPECT_EQ(Scalar("SELECT count(*) FROM post_attachments"), std::to_string(per_shape));
  EXPECT_EQ(Scalar("SELECT count(*) FROM attachments"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body LIKE '%monitor%flickers%' AND body NOT LIKE '%<%'"),
            std::to_string(per_shape));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body LIKE 'The caf\xC3\xA9 machine %'"),
            std::to_string(per_shape));
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads WHERE subject LIKE 'Caf\xC3\xA9 machine %'"),
            std::to_string(per_shape));
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM posts WHERE body LIKE '\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, "
             "question %'"),
      std::to_string(per_shape));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body LIKE '%cost 20 \xE2\x82\xAC.%'"),
            std::to_string(per_shape));
  // Replies were trimmed of the quoted question.
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body LIKE '%> The question%'"), "0");

  // The malformed message: quarantined with its raw bytes and the reason, moved to the quarantine folder.
  const std::string malformed = Malformed().raw;
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'quarantined'"), "1");
  EXPECT_EQ(Scalar("SELECT encode(sha256(raw), 'hex') || ' ' || message_key || ' ' || (reason <> '') "
                   "FROM inbound_messages WHERE outcome = 'quarantined'"),
            mail::Sha256Hex(malformed) + " sha256:" + mail::Sha256Hex(malformed) + " true");
  EXPECT_EQ(Count(user, "INBOX"), 0u);
  EXPECT_EQ(Count(user, "Quarantine"), 1u);
  EXPECT_EQ(Count(user, "Processed"), static_cast<uint32_t>(kMessages - 1));
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE NOT post_action_done"), "0");

  // A third pass finds nothing new and changes nothing.
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), std::to_string(threads + answers));
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), std::to_string(kMessages));
}

}  // namespace
}  // namespace mailforumd

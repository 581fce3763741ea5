// What outbox delivery composes for each kind of claimed row (threading
// headers, Reply-To token, VERP return path, stable bytes) and its retry
// schedule. No servers: ComposeMail and RetryDelay are pure.
#include "engine/outbox_delivery.h"

#include <gtest/gtest.h>

#include <string>

#include "mail/mime_parser.h"
#include "mail/reply_token.h"
#include "mail/unsubscribe_token.h"

namespace engine {
namespace {

using namespace std::chrono_literals;

constexpr char kKey[] = "outbox-test-key-0123456789abcdef";

DeliveryOptions Options() {
  DeliveryOptions o;
  o.from = "Acme Help <help@example.com>";
  o.reply_to_template = "help+{token}@example.com";
  o.reply_key = kKey;
  o.bounce_template = "bounces+{id}@example.com";
  o.instance_name = "Acme Help";
  o.base_url = "https://help.example.com";
  o.domain = "example.com";
  o.unsubscribe_base_url = "https://help.example.com";
  o.list_addresses = {"it-list@example.com"};
  return o;
}

// An answer (post 12, by Bob) in thread 7, which Alice opened with <q@alice.example>.
forum::ClaimedMail Answer(const std::string& recipient) {
  forum::ClaimedMail row;
  row.id = 31;
  row.kind = forum::OutboxKind::kAnswer;
  row.recipient = recipient;
  row.message_id = "post.12.abcd@example.com";
  row.attempts = 1;
  row.queued_at = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 9h;
  row.thread_id = 7;
  row.category = "it";
  row.thread_subject = "VPN down";
  row.thread_author = "alice@example.org";
  row.root_message_id = "post.10.wxyz@example.com";
  row.question_message_id = "q@alice.example";
  row.post_id = 12;
  row.post_author_address = "bob@example.org";
  row.post_author_name = "Bob";
  row.post_body = "Restart the client.";
  return row;
}

mail::Message Parsed(const mail::OutboundMail& mail) {
  auto raw = mail::ComposeMessage(mail);
  EXPECT_TRUE(raw.ok()) << (raw.ok() ? "" : raw.error().message);
  return mail::ParseMessage(raw.ok() ? *raw : "", mail::ParseLimits{});
}

TEST(ComposeMailTest, AnAnswerToTheAskerIsThreadedUnderTheirQuestion) {
  const mail::OutboundMail mail = ComposeMail(Answer("alice@example.org"), Options());
  EXPECT_EQ(mail.in_reply_to, "q@alice.example");
  EXPECT_EQ(mail.references, std::vector<std::string>{"q@alice.example"});
  EXPECT_EQ(mail.subject, "Re: VPN down");
  EXPECT_EQ(mail.reply_to, mail::ReplyAddress("help+{token}@example.com", 7, kKey));
  EXPECT_EQ(mail.return_path, mail::VerpAddress("bounces+{id}@example.com", 31, kKey));
  EXPECT_EQ(mail::ParseVerpAddress("bounces+{id}@example.com", mail.return_path, kKey), 31);
  EXPECT_EQ(mail.thread_url, "https://help.example.com/t/7");
  EXPECT_EQ(mail.list_id, "it.example.com");

  const mail::Message m = Parsed(mail);
  EXPECT_EQ(m.message_id, "post.12.abcd@example.com");
  EXPECT_EQ(m.in_reply_to, std::vector<std::string>{"q@alice.example"});
  ASSERT_TRUE(m.from.has_value());
  EXPECT_EQ(m.from->name, "Bob via Acme Help");
  EXPECT_NE(m.text_body.find("Restart the client."), std::string::npos);
}

TEST(ComposeMailTest, OthersGetItUnderTheFirstPostTheyReceived) {
  const mail::OutboundMail mail = ComposeMail(Answer("carol@example.org"), Options());
  EXPECT_EQ(mail.in_reply_to, "post.10.wxyz@example.com");
  EXPECT_EQ(mail.references, std::vector<std::string>{"post.10.wxyz@example.com"});

  forum::ClaimedMail no_id = Answer("alice@example.org");
  no_id.question_message_id.clear();  // the question had no Message-ID
  EXPECT_EQ(ComposeMail(no_id, Options()).in_reply_to, "post.10.wxyz@example.com");
}

TEST(ComposeMailTest, ANewThreadNotificationStartsAThreadWithTheQuestionsSubject) {
  forum::ClaimedMail row = Answer("it-team@example.com");
  row.kind = forum::OutboxKind::kNotification;
  row.post_opens_thread = true;
  row.message_id = row.root_message_id;
  const mail::OutboundMail mail = ComposeMail(row, Options());
  EXPECT_EQ(mail.kind, mail::OutboundKind::kNotification);
  EXPECT_EQ(mail.subject, "VPN down");
  EXPECT_EQ(mail.in_reply_to, "");
  EXPECT_TRUE(mail.references.empty());
}

// "<https://...>, <mailto:...>" → the token of the https link, checking that both carry the same one.
std::string TokenOf(const std::string& uris) {
  const std::string https = "<https://help.example.com/unsubscribe/";
  const std::string mailto = ">, <mailto:help+unsub-";
  const size_t end = uris.find(mailto);
  if (!uris.starts_with(https) || end == std::string::npos) return "(malformed: " + uris + ")";
  const std::string token = uris.substr(https.size(), end - https.size());
  EXPECT_EQ(uris.substr(end + mailto.size()), token + "@example.com>");
  return token;
}

TEST(ComposeMailTest, EachMailCarriesItsRecipientsSignedUnsubscribeLinksForWhatItIsAbout) {
  // An answer: its thread.
  const mail::OutboundMail answer = ComposeMail(Answer("alice@example.org"), Options());
  const std::string token = TokenOf(answer.unsubscribe_url);
  EXPECT_EQ(mail::UnsubscribeTokenRow(token), 31u);
  EXPECT_TRUE(mail::VerifyUnsubscribeToken(token, "alice@example.org", "thread:7", kKey));
  EXPECT_FALSE(mail::VerifyUnsubscribeToken(token, "carol@example.org", "thread:7", kKey));
  const auto raw = mail::ComposeMessage(answer);
  ASSERT_TRUE(raw.ok());
  EXPECT_NE(raw->find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos);
  // Each recipient has a token of its own.
  EXPECT_NE(TokenOf(ComposeMail(Answer("carol@example.org"), Options()).unsubscribe_url), token);

  // A watcher's notification: the category. An acknowledgement: acknowledgements.
  forum::ClaimedMail note = Answer("it-team@example.com");
  note.kind = forum::OutboxKind::kNotification;
  EXPECT_TRUE(mail::VerifyUnsubscribeToken(TokenOf(ComposeMail(note, Options()).unsubscribe_url),
                                           "it-team@example.com", "category:it", kKey));
  forum::ClaimedMail ack = Answer("alice@example.org");
  ack.kind = forum::OutboxKind::kAcknowledgement;
  EXPECT_TRUE(mail::VerifyUnsubscribeToken(TokenOf(ComposeMail(ack, Options()).unsubscribe_url),
                                           "alice@example.org", "acknowledgements", kKey));

  // A mailing list gets none (but keeps its List-Id); without an https base URL, only the mailto link.
  note.recipient = "it-list@example.com";
  const mail::OutboundMail list = ComposeMail(note, Options());
  EXPECT_EQ(list.unsubscribe_url, "");
  EXPECT_EQ(list.list_id, "it.example.com");
  DeliveryOptions http = Options();
  http.unsubscribe_base_url.clear();
  const mail::OutboundMail mailto_only = ComposeMail(Answer("alice@example.org"), http);
  EXPECT_EQ(mailto_only.unsubscribe_url, "<mailto:help+unsub-" + token + "@example.com>");
  const auto raw_mailto = mail::ComposeMessage(mailto_only);
  ASSERT_TRUE(raw_mailto.ok());
  EXPECT_EQ(raw_mailto->find("List-Unsubscribe-Post"), std::string::npos);
}

TEST(ComposeMailTest, AnAcknowledgementAnswersTheQuestion) {
  forum::ClaimedMail row = Answer("alice@example.org");
  row.kind = forum::OutboxKind::kAcknowledgement;
  row.post_opens_thread = true;
  row.message_id = "ack.5.efgh@example.com";
  const mail::OutboundMail mail = ComposeMail(row, Options());
  EXPECT_EQ(mail.in_reply_to, "q@alice.example");
  EXPECT_EQ(mail.subject, "Re: VPN down");
  EXPECT_EQ(mail.list_id, "");
  EXPECT_FALSE(mail.reply_to.empty());
}

TEST(ComposeMailTest, ARejectionSaysOnlyTheReasonMeantForTheSender) {
  forum::ClaimedMail row;
  row.id = 9;
  row.kind = forum::OutboxKind::kRejection;
  row.recipient = "mallory@outside.example";
  row.message_id = "reject.3.ijkl@example.com";
  row.rejection_reason = "Only staff may write here.";
  mail::OutboundMail mail = ComposeMail(row, Options());
  EXPECT_EQ(mail.kind, mail::OutboundKind::kRejection);
  EXPECT_EQ(mail.reply_to, "");
  EXPECT_EQ(mail.unsubscribe_url, "");
  EXPECT_EQ(mail.rejection_reason, "Only staff may write here.");
  EXPECT_TRUE(mail::ComposeMessage(mail).ok());
  row.rejection_reason = "rule outsiders";
  EXPECT_EQ(ComposeMail(row, Options()).rejection_reason, "");
}

TEST(ComposeMailTest, ComposingARowAgainGivesTheSameBytes) {
  const auto first = mail::ComposeMessage(ComposeMail(Answer("alice@example.org"), Options()));
  const auto second = mail::ComposeMessage(ComposeMail(Answer("alice@example.org"), Options()));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(RetryDelayTest, DoublesFromOneMinuteUpToAnHour) {
  const DeliveryOptions o = Options();
  EXPECT_EQ(RetryDelay(1, o), 1min);
  EXPECT_EQ(RetryDelay(2, o), 2min);
  EXPECT_EQ(RetryDelay(3, o), 4min);
  EXPECT_EQ(RetryDelay(7, o), 60min);
  EXPECT_EQ(RetryDelay(1000, o), 60min);
}

}  // namespace
}  // namespace engine

// The composer against the real SMTP sink of scripts/testenv (which offers
// SMTPUTF8, the case where vmime loses the spaces of UTF-8 subjects): each
// kind of mail, sent through mail::SmtpTransport with the envelope of
// ComposeEnvelope(), arrives byte for byte as composed, with its VERP
// envelope sender, and its subject decodes intact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vmime/charset.hpp>
#include <vmime/header.hpp>
#include <vmime/message.hpp>
#include <vmime/parsingContext.hpp>
#include <vmime/text.hpp>

#include "mail/composer.h"
#include "mail/library_init.h"
#include "mail/mime_parser.h"
#include "mail/smtp_transport.h"
#include "tests/support/test_env.h"

namespace mail {
namespace {

using namespace std::chrono_literals;

constexpr char kSubject[] = "Re: Grüße aus Köln — wie geht's dem VPN im 3. Stock?";
constexpr char kBounceTemplate[] = "bounces+{id}@mailforum.test";
constexpr char kKey[] = "composer-itest-key";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

struct Received {
  std::string raw;
  nlohmann::json envelope;  // mail_from, rcpt_tos, ...
};

// Waits up to 10 s for the message whose Message-ID is `id` in the sink's spool/new.
std::optional<Received> WaitForMessage(const std::string& spool, const std::string& id) {
  const std::string needle = "\r\nMessage-ID: <" + id + ">\r\n";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(spool) / "new")) {
      if (entry.path().extension() == ".json") continue;
      std::string raw = ReadFile(entry.path());
      if (raw.find(needle) == std::string::npos) continue;
      return Received{std::move(raw), nlohmann::json::parse(ReadFile(entry.path().string() + ".json"))};
    }
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

OutboundMail Mail(OutboundKind kind, int64_t outbox_id) {
  const auto now = std::chrono::system_clock::now();
  OutboundMail mail;
  mail.kind = kind;
  mail.message_id = "compose." + std::string(OutboundKindName(kind)) + "." + std::to_string(getpid()) + "." +
                    std::to_string(now.time_since_epoch().count()) + "@mailforum.test";
  mail.from = "Acme Hilfe <help@mailforum.test>";
  mail.reply_to = kind == OutboundKind::kRejection ? "" : "help+abcdefghijklmnopqrstuvwxyz@mailforum.test";
  mail.to = "asker@example.test";
  mail.subject = kSubject;
  mail.in_reply_to = "question.1@example.test";
  mail.references = {"question.1@example.test"};
  mail.author_name = "Jürgen Groß";
  mail.body_text = "Hallo,\nder Drucker druckt wieder.\n.\n<b>nicht fett</b>";
  mail.thread_url = "https://help.mailforum.test/t/7";
  mail.list_id = "help.mailforum.test";
  mail.list_archive_url = "https://help.mailforum.test/";
  mail.unsubscribe_url = "https://help.mailforum.test/unsubscribe/x";
  mail.return_path = VerpAddress(kBounceTemplate, outbox_id, kKey);
  mail.date = now;
  mail.instance_name = "Acme Hilfe";
  mail.rejection_reason = "Nur Adressen von example.org dürfen hier schreiben.";
  return mail;
}

class ComposerITest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitializeMailLibraries(); }

  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(smtp_port, "MAILFORUM_TEST_SMTP_PORT");
    MAILFORUM_REQUIRE_SERVER(ca_file, "MAILFORUM_TEST_CA_FILE");
    MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_SMTP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(spool, "MAILFORUM_TEST_SMTP_SPOOL");
    options_.host = "localhost";  // what the sink's certificate names
    options_.port = static_cast<uint16_t>(std::stoi(smtp_port));
    options_.tls = SmtpOptions::Tls::kStartTls;
    options_.ca_file = ca_file;
    options_.username = "composer";
    options_.password = password;
    options_.timeout = 10s;
    spool_ = spool;
  }

  SmtpOptions options_;
  std::string spool_;
};

TEST_F(ComposerITest, EveryKindArrivesAsComposedWithItsSubjectIntact) {
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options_);
  ASSERT_TRUE(transport.ok()) << transport.error().message;
  int64_t outbox_id = 1000;
  for (OutboundKind kind : {OutboundKind::kAnswer, OutboundKind::kNotification,
                            OutboundKind::kAcknowledgement, OutboundKind::kRejection}) {
    SCOPED_TRACE(std::string(OutboundKindName(kind)));
    const OutboundMail mail = Mail(kind, ++outbox_id);
    base::Result<std::string> raw = ComposeMessage(mail);
    ASSERT_TRUE(raw.ok()) << raw.error().message;
    base::Result<Envelope> envelope = ComposeEnvelope(mail);
    ASSERT_TRUE(envelope.ok()) << envelope.error().message;
    base::Status sent = (*transport)->Send(*envelope, *raw);
    ASSERT_TRUE(sent.ok()) << sent.error().message;

    const std::optional<Received> received = WaitForMessage(spool_, mail.message_id);
    ASSERT_TRUE(received.has_value()) << mail.message_id << " did not arrive within 10 s";
    EXPECT_EQ(received->raw, *raw);
    EXPECT_EQ(received->envelope["rcpt_tos"], nlohmann::json::array({"asker@example.test"}));
    const std::string mail_from = received->envelope["mail_from"];
    EXPECT_EQ(mail_from, mail.return_path);
    EXPECT_EQ(ParseVerpAddress(kBounceTemplate, mail_from, kKey), outbox_id);

    vmime::parsingContext context;
    vmime::message message;
    message.parse(context, received->raw);
    EXPECT_EQ(
        message.getHeader()->Subject()->getValue<vmime::text>()->getConvertedText(vmime::charsets::UTF_8),
        kSubject);
    const Message parsed = ParseMessage(received->raw);
    EXPECT_EQ(parsed.subject, kSubject);
    EXPECT_EQ(parsed.in_reply_to, std::vector<std::string>{"question.1@example.test"});
    if (kind == OutboundKind::kAnswer) {
      ASSERT_TRUE(parsed.from.has_value());
      EXPECT_EQ(parsed.from->name, "Jürgen Groß via Acme Hilfe");
      EXPECT_EQ(parsed.text_body.find("Hallo,\nder Drucker druckt wieder.\n.\n<b>nicht fett</b>"), 0u)
          << parsed.text_body;
    }
  }
}

}  // namespace
}  // namespace mail

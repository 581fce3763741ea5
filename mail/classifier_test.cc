#include "mail/classifier.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mail {
namespace {

// A Message as the parser would fill it: headers in order, From, Subject and
// Return-Path also in their typed fields, and the chosen text body.
Message Make(std::initializer_list<std::pair<std::string_view, std::string_view>> headers,
             std::string_view text_body = "") {
  Message m;
  for (const auto& [name, value] : headers) {
    m.headers.push_back({std::string(name), std::string(value)});
    if (name == "From") {
      std::string_view v = value;
      size_t open = v.find('<');
      m.from = Address{
          "", std::string(open == std::string_view::npos ? v : v.substr(open + 1, v.find('>') - open - 1))};
    } else if (name == "Subject") {
      m.subject = value;
    } else if (name == "Return-Path") {
      std::string_view v = value;
      m.return_path = std::string(v.substr(1, v.size() - 2));  // "<a@b>" or "<>"
    }
  }
  m.text_body = text_body;
  return m;
}

// A multipart/report with a message/delivery-status part.
Message Dsn(std::string_view delivery_status, std::string_view text_body = "") {
  Message m = Make({{"From", "MAILER-DAEMON@mx.example.net"},
                    {"Subject", "Undelivered Mail Returned to Sender"},
                    {"Return-Path", "<>"}},
                   text_body);
  m.report_type = "delivery-status";
  m.delivery_status = delivery_status;
  return m;
}

std::string WithCrlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

constexpr std::string_view kPersonFrom = "Anna Example <anna@example.org>";

// The one failed recipient of a bounce; an address saying what went wrong
// when there is not exactly one, so that the caller's expectations fail.
FailedRecipient Only(const Classification& c) {
  if (c.kind == MessageKind::kBounce && c.failed.size() == 1) return c.failed[0];
  FailedRecipient none;
  none.address =
      std::string(MessageKindName(c.kind)) + " with " + std::to_string(c.failed.size()) + " failures";
  return none;
}

enum class Bounce { kSoft, kHard };

// Checks a failed recipient; an empty `status` is not checked.
void ExpectFailure(const FailedRecipient& f, std::string_view address, std::string_view status,
                   std::string_view reason, Bounce bounce) {
  EXPECT_EQ(f.address, address);
  if (!status.empty()) {
    EXPECT_EQ(f.status, status) << f.address;
  }
  EXPECT_EQ(f.reason, reason) << f.address << ": " << f.diagnostic;
  EXPECT_EQ(f.hard, bounce == Bounce::kHard) << f.address << ": " << f.reason;
}

// A DSN for one recipient, bob@example.com.
Classification OneRecipientDsn(std::string_view status, std::string_view diagnostic) {
  return Classify(Dsn("Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: " +
                      std::string(status) + "\nDiagnostic-Code: smtp; " + std::string(diagnostic) + "\n"));
}

TEST(MessageKindName, NamesEveryKind) {
  EXPECT_EQ(MessageKindName(MessageKind::kNormal), "normal");
  EXPECT_EQ(MessageKindName(MessageKind::kAutoReply), "auto_reply");
  EXPECT_EQ(MessageKindName(MessageKind::kBounce), "bounce");
  EXPECT_EQ(MessageKindName(MessageKind::kFeedback), "feedback");
  EXPECT_EQ(MessageKindName(MessageKind::kDeliveryNotice), "delivery_notice");
}

TEST(Classify, PersonalMailIsNormal) {
  Classification c =
      Classify(Make({{"From", kPersonFrom}, {"Subject", "VPN down"}, {"Return-Path", "<anna@example.org>"}},
                    "Hello,\nthe VPN is down again.\n"));
  EXPECT_EQ(c.kind, MessageKind::kNormal);
  EXPECT_TRUE(c.failed.empty());
  EXPECT_FALSE(c.why.empty());
}

TEST(Classify, EmptyMessageIsNormal) { EXPECT_EQ(Classify(Message{}).kind, MessageKind::kNormal); }

TEST(Classify, AutoSubmittedAnythingButNo) {
  for (std::string_view value :
       {"auto-replied", "auto-generated", "auto-notified; owner-email=x@example.org", "Auto-Replied"}) {
    Classification c = Classify(Make({{"From", kPersonFrom}, {"Auto-Submitted", value}}));
    EXPECT_EQ(c.kind, MessageKind::kAutoReply) << value;
    EXPECT_NE(c.why.find("Auto-Submitted"), std::string::npos) << c.why;
  }
  EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Auto-Submitted", "no"}})).kind, MessageKind::kNormal);
  EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Auto-Submitted", "No (comment)"}})).kind,
            MessageKind::kNormal);
}

TEST(Classify, PrecedenceBulkJunkListAutoReply) {
  for (std::string_view value : {"bulk", "junk", "list", "auto_reply", "Bulk"}) {
    EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Precedence", value}})).kind, MessageKind::kAutoReply)
        << value;
  }
  EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Precedence", "first-class"}})).kind,
            MessageKind::kNormal);
}

TEST(Classify, VendorAutoReplyHeaders) {
  for (std::string_view name :
       {"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-MS-Exchange-Inbox-Rules-Loop",
        "X-MS-Exchange-Generated-Message-Source", "X-Apple-Action"}) {
    Classification c = Classify(Make({{"From", kPersonFrom}, {name, "yes"}}));
    EXPECT_EQ(c.kind, MessageKind::kAutoReply) << name;
    EXPECT_NE(c.why.find(name), std::string::npos) << c.why;
  }
}

TEST(Classify, AutoResponseSuppressAloneIsNotAnAutoReply) {
  // Outlook puts it on ordinary mail; Discourse ignores it too.
  Classification c =
      Classify(Make({{"From", kPersonFrom}, {"Subject", "Re: printer"}, {"X-Auto-Response-Suppress", "All"}},
                    "It works now, thanks.\n"));
  EXPECT_EQ(c.kind, MessageKind::kNormal);
}

TEST(Classify, ExchangeAutoReplyWithoutAutoSubmitted) {
  Classification c = Classify(Make({{"From", kPersonFrom},
                                    {"Subject", "Automatic reply: Nyaan"},
                                    {"X-Auto-Response-Suppress", "All"},
                                    {"X-MS-Exchange-Inbox-Rules-Loop", "anna@example.org"}},
                                   "I'm out of the office Friday.\n"));
  EXPECT_EQ(c.kind, MessageKind::kAutoReply);
}

TEST(Classify, LocalizedOutOfOfficeSubjects) {
  for (std::string_view subject :
       {"Out of Office: VPN down", "Automatic reply: VPN down", "Auto reply: VPN down", "AutoReply: x",
        "Abwesenheitsnotiz: VPN", "Automatische Antwort: VPN", "R\xC3\xA9ponse automatique : VPN",
        "Respuesta autom\xC3\xA1tica: VPN", "Risposta automatica: VPN", "Automatisch antwoord: VPN",
        "\xE8\x87\xAA\xE5\x8B\x95\xE5\xBF\x9C\xE7\xAD\x94: VPN",
        "\xE8\x87\xAA\xE5\x8B\x95\xE5\xBF\x9C\xE7\xAD\x94\xEF\xBC\x9A VPN", "[Auto-Reply] VPN down",
        "Out of Office", "AUTO: Anna is out of the office"}) {
    EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Subject", subject}})).kind, MessageKind::kAutoReply)
        << subject;
  }
}

TEST(Classify, SubjectsThatOnlyMentionAbsenceAreNormal) {
  for (std::string_view subject :
       {"Out of office next week?", "Auto parts order", "Autoreply settings are broken",
        "Re: Automatic reply: x", "How do I set up an automatic reply?", "Vacation days 2025",
        "automation"}) {
    EXPECT_EQ(Classify(Make({{"From", kPersonFrom}, {"Subject", subject}})).kind, MessageKind::kNormal)
        << subject;
  }
}

TEST(Classify, NullReturnPathIsMachineMail) {
  Classification c = Classify(
      Make({{"From", kPersonFrom}, {"Subject", "Away until May 5"}, {"Return-Path", "<>"}}, "I am away.\n"));
  EXPECT_EQ(c.kind, MessageKind::kAutoReply);
  EXPECT_NE(c.why.find("Return-Path"), std::string::npos) << c.why;
}

TEST(Classify, DsnUserUnknownIsHard) {
  Classification c =
      Classify(Dsn("Reporting-MTA: dns; mx.example.net\n"
                   "Arrival-Date: Thu, 29 Apr 2021 23:45:41 +0900\n"
                   "\n"
                   "Final-Recipient: rfc822; Kijitora@Example.JP\n"
                   "Original-Recipient: rfc822;kijitora@example.jp\n"
                   "Action: failed\n"
                   "Status: 5.1.1\n"
                   "Remote-MTA: dns; mx.example.jp\n"
                   "Diagnostic-Code: smtp; 550 5.1.1 <kijitora@example.jp>... User\n"
                   "    Unknown\n"));
  FailedRecipient r = Only(c);
  ExpectFailure(r, "kijitora@example.jp", "5.1.1", "userunknown", Bounce::kHard);
  EXPECT_EQ(r.reply_code, 550);
  EXPECT_EQ(r.diagnostic, "550 5.1.1 <kijitora@example.jp>... User Unknown");
}

TEST(Classify, DsnSoftReasons) {
  struct Case {
    std::string_view status;
    std::string_view diagnostic;
    std::string_view reason;
  };
  for (const Case& k :
       {Case{"5.2.2", "552 5.2.2 Mailbox full", "mailboxfull"},
        Case{"5.0.0", "552 Requested mail action aborted: exceeded storage allocation (quota)",
             "mailboxfull"},
        Case{"5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", "spamdetected"},
        Case{"5.7.1",
             "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
             "zen.spamhaus.org",
             "blocked"},
        Case{"5.7.1", "550 5.7.1 Your IP address is listed in a blacklist", "blocked"},
        Case{"5.7.0", "554 5.7.0 Message rejected due to local policy violation", "policyviolation"},
        Case{"5.3.4", "552 5.3.4 Message size exceeds fixed limit", "mesgtoobig"},
        Case{"5.1.8", "553 5.1.8 Domain of sender address nobody@nowhere.invalid does not exist", "rejected"},
        Case{"4.4.7", "", "expired"}}) {
    // Policy blocks and transient failures are soft even with a 5.x.x status.
    ExpectFailure(Only(OneRecipientDsn(k.status, k.diagnostic)), "bob@example.com", k.status, k.reason,
                  Bounce::kSoft);
  }
}

TEST(Classify, DsnHardReasons) {
  struct Case {
    std::string_view status;
    std::string_view diagnostic;
    std::string_view reason;
  };
  for (const Case& k :
       {Case{"5.1.2", "Host or domain name not found. Name service error for name=nx.example", "hostunknown"},
        Case{"5.0.0",
             "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in "
             "local recipient table (in reply to RCPT TO command)",
             "userunknown"},
        Case{"5.1.6", "551 User has moved; please try <bob@example.net>", "hasmoved"},
        Case{"5.1.10", "556 5.1.10 Recipient address has null MX", "notaccept"}}) {
    ExpectFailure(Only(OneRecipientDsn(k.status, k.diagnostic)), "bob@example.com", "", k.reason,
                  Bounce::kHard);
  }
}

TEST(Classify, DsnEveryRecipientInOrder) {
  Classification c =
      Classify(Dsn("Reporting-MTA: dns; mx.example.net\n\n"
                   "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.1.1\n"
                   "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
                   "Final-Recipient: rfc822; b@example.com\nAction: delayed\nStatus: 4.4.1\n"
                   "Diagnostic-Code: smtp; connect to mx.example.com: Connection timed out\n\n"
                   "Final-Recipient: rfc822; c@example.com\nAction: delivered\nStatus: 2.0.0\n\n"
                   "Final-Recipient: rfc822; d@example.com\nAction: failed\nStatus: 5.2.2\n"
                   "Diagnostic-Code: smtp; 552 5.2.2 Over quota\n"));
  ASSERT_EQ(c.kind, MessageKind::kBounce);
  ASSERT_EQ(c.failed.size(), 3u);
  ExpectFailure(c.failed[0], "a@example.com", "5.1.1", "userunknown", Bounce::kHard);
  ExpectFailure(c.failed[1], "b@example.com", "4.4.1", "expired", Bounce::kSoft);
  ExpectFailure(c.failed[2], "d@example.com", "5.2.2", "mailboxfull", Bounce::kSoft);
}

TEST(Classify, DsnDelayedOnlyIsASoftBounce) {
  Classification c =
      Classify(Dsn("Final-Recipient: rfc822; bob@example.com\nAction: delayed\nStatus: 4.4.7\n"));
  ExpectFailure(Only(c), "bob@example.com", "4.4.7", "expired", Bounce::kSoft);
}

TEST(Classify, DsnDeliveredRelayedExpandedIsADeliveryNotice) {
  for (std::string_view action : {"delivered", "relayed", "expanded", "deliverable"}) {
    std::string text =
        "Final-Recipient: rfc822; bob@example.com\nAction: " + std::string(action) + "\nStatus: 2.0.0\n";
    Classification c = Classify(Dsn(text));
    EXPECT_EQ(c.kind, MessageKind::kDeliveryNotice) << action;
    EXPECT_TRUE(c.failed.empty()) << action;
  }
}

TEST(Classify, DsnFromLocalMailerIsNotTheAddress) {
  Classification c = Classify(
      Dsn("Final-Recipient: rfc822; r@example.jp\nAction: failed\nStatus: 5.1.1\n"
          "Diagnostic-Code: x-unix; procmail: Couldn't create \"/var/spool/mail/r\": No such user\n"));
  ExpectFailure(Only(c), "r@example.jp", "5.1.1", "mailererror", Bounce::kSoft);
}

TEST(Classify, DsnWithCrlfLineEnds) {
  std::string status = WithCrlf(
      "Reporting-MTA: dns; mx.example.net\n\n"
      "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.1.1\n"
      "Diagnostic-Code: smtp; 550 5.1.1 <a@example.com>... User\n unknown\n\n"
      "Final-Recipient: rfc822; b@example.com\nAction: failed\nStatus: 5.2.2\n");
  Classification c = Classify(Dsn(status, WithCrlf("This is the mail system at host mx.example.net.\n")));
  ASSERT_EQ(c.failed.size(), 2u);
  ExpectFailure(c.failed[0], "a@example.com", "5.1.1", "userunknown", Bounce::kHard);
  EXPECT_EQ(c.failed[0].diagnostic, "550 5.1.1 <a@example.com>... User unknown");
  ExpectFailure(c.failed[1], "b@example.com", "5.2.2", "mailboxfull", Bounce::kSoft);
}

TEST(Classify, FeedbackReport) {
  Message m = Make({{"From", "feedbackloop@feedback.example.com"}, {"Subject", "Abuse Report"}});
  m.report_type = "feedback-report";
  m.feedback_report = "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n";
  Classification c = Classify(m);
  EXPECT_EQ(c.kind, MessageKind::kFeedback);
  EXPECT_EQ(c.feedback_type, "abuse");
  EXPECT_TRUE(c.failed.empty());

  m.feedback_report = "Version: 1\nFeedback-Type: Opt-Out\n";
  EXPECT_EQ(Classify(m).feedback_type, "opt-out");
}

TEST(Classify, MicrosoftComplaintWithTheReportedMessageAttached) {
  Message m = Make({{"From", "staff@hotmail.com"}, {"Subject", "complaint about message from 192.0.2.222"}});
  MimePart root;
  root.kind = MimePart::Kind::kMultipart;
  root.content_type = "multipart/mixed";
  root.children = {1};
  MimePart attached;
  attached.kind = MimePart::Kind::kMessage;
  attached.content_type = "message/rfc822";
  attached.body = "X-HmXmrOriginalRecipient: kijitora@example.com\nFrom: anna@example.org\n\nHello\n";
  m.parts = {root, attached};
  Classification c = Classify(m);
  EXPECT_EQ(c.kind, MessageKind::kFeedback);
  EXPECT_EQ(c.feedback_type, "abuse");
}

TEST(Classify, ReportReadAsTextWhenItsBoundaryIsMissing) {
  // The parser keeps a multipart without a usable boundary as one text part
  // that is not a body; the report is still read.
  Message m =
      Make({{"From", "MAILER-DAEMON@mx.example.net"}, {"Subject", "Returned mail: Service unavailable"}});
  MimePart whole;
  whole.kind = MimePart::Kind::kText;
  whole.content_type = "multipart/report";
  whole.body =
      "--lost-boundary\nContent-Type: message/delivery-status\n\n"
      "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.2.2\n"
      "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n";
  m.parts = {whole};
  ExpectFailure(Only(Classify(m)), "bob@example.com", "5.2.2", "mailboxfull", Bounce::kSoft);
}

TEST(Classify, ReadReceiptIsADeliveryNotice) {
  Message m = Make({{"From", kPersonFrom}, {"Subject", "Read: VPN down"}});
  m.report_type = "disposition-notification";
  EXPECT_EQ(Classify(m).kind, MessageKind::kDeliveryNotice);
}

TEST(Classify, QmailBounce) {
  Classification c = Classify(Make(
      {{"From", "MAILER-DAEMON@mx4.example.jp"}, {"To", "anna@example.org"}, {"Subject", "failure notice"}},
      "Hi. This is the qmail-send program at mx4.example.jp.\n"
      "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
      "This is a permanent error; I've given up. Sorry it didn't work out.\n"
      "\n"
      "<kijitora@example.ne.jp>:\n"
      "192.0.2.32 does not like recipient.\n"
      "Remote host said: 550 5.1.1 <kijitora@example.ne.jp>... User Unknown\n"
      "Giving up on 192.0.2.32.\n"
      "\n"
      "<nyaan@example.org>:\n"
      "Sorry, I couldn't find any host named example.org. (#5.1.2)\n"
      "\n"
      "--- Below this line is a copy of the message.\n"
      "\n"
      "Return-Path: <anna@example.org>\n"
      "From: Anna <anna@example.org>\n"
      "To: kijitora@example.ne.jp, somebody@example.com\n"
      "\n"
      "Please write to help@example.com.\n"));
  ASSERT_EQ(c.kind, MessageKind::kBounce);
  ASSERT_EQ(c.failed.size(), 2u);
  ExpectFailure(c.failed[0], "kijitora@example.ne.jp", "5.1.1", "userunknown", Bounce::kHard);
  EXPECT_EQ(c.failed[0].reply_code, 550);
  ExpectFailure(c.failed[1], "nyaan@example.org", "5.1.2", "hostunknown", Bounce::kHard);
}

TEST(Classify, EximBounceWithIndentedAddresses) {
  Classification c =
      Classify(Make({{"From", "Mail Delivery System <Mailer-Daemon@mx.example.org>"},
                     {"Subject", "Mail delivery failed: returning message to sender"},
                     {"Auto-Submitted", "auto-replied"}},
                    "This message was created automatically by mail delivery software.\n"
                    "\n"
                    "A message that you sent could not be delivered to one or more of its\n"
                    "recipients. This is a permanent error. The following address(es) failed:\n"
                    "\n"
                    "  kijitora@example.jp\n"
                    "    SMTP error from remote mail server after RCPT TO:<kijitora@example.jp>:\n"
                    "    host mx.example.jp [192.0.2.153]: 550 5.1.1 <kijitora@example.jp>... User Unknown\n"
                    "  sabatora@example.jp\n"
                    "    SMTP error from remote mail server after end of data:\n"
                    "    host mx.example.jp [192.0.2.153]: 552 5.2.2 Mailbox full\n"
                    "\n"
                    "------ This is a copy of the message, including all the headers. ------\n"
                    "\n"
                    "Return-path: <anna@example.org>\n"
                    "To: kijitora@example.jp, sabatora@example.jp\n"));
  ASSERT_EQ(c.kind, MessageKind::kBounce);
  ASSERT_EQ(c.failed.size(), 2u);
  ExpectFailure(c.failed[0], "kijitora@example.jp", "5.1.1", "userunknown", Bounce::kHard);
  ExpectFailure(c.failed[1], "sabatora@example.jp", "5.2.2", "mailboxfull", Bounce::kSoft);
}

TEST(Classify, XFailedRecipientsNamesTheRecipients) {
  Message m = Make({{"From", "Mail Delivery System <Mailer-Daemon@mx.example.org>"},
                    {"Subject", "Mail delivery failed"},
                    {"X-Failed-Recipients", "Shiba@Example.com"}},
                   "A message that you sent could not be delivered to one or more of its recipients.\n"
                   "This is a permanent error. The following address(es) failed:\n\n"
                   "  save to /var/mail/shiba\n    generated by shiba@example.com\n"
                   "    mailbox is full: retry timeout exceeded\n");
  ExpectFailure(Only(Classify(m)), "shiba@example.com", "", "mailboxfull", Bounce::kSoft);
}

TEST(Classify, OldSendmailBounce) {
  Classification c = Classify(Make({{"From", "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>"},
                                    {"Subject", "Returned mail: see transcript for details"}},
                                   "The original message was received at Thu, 29 Apr 2010 23:34:45 +0900\n"
                                   "from localhost [127.0.0.1]\n"
                                   "\n"
                                   "   ----- The following addresses had permanent fatal errors -----\n"
                                   "<kijitora@example.com>\n"
                                   "    (reason: 550 5.1.1 <kijitora@example.com>... User unknown)\n"
                                   "\n"
                                   "   ----- Transcript of session follows -----\n"
                                   "... while talking to mx.example.com.:\n"
                                   ">>> RCPT To:<kijitora@example.com>\n"
                                   "<<< 550 5.1.1 <kijitora@example.com>... User unknown\n"
                                   "550 5.1.1 <kijitora@example.com>... User unknown\n"
                                   "\n"
                                   "   ----- Original message follows -----\n"
                                   "From: anna@example.org\n"));
  ExpectFailure(Only(c), "kijitora@example.com", "5.1.1", "userunknown", Bounce::kHard);
}

TEST(Classify, PostfixWithoutDsn) {
  Classification c = Classify(Make({{"From", "MAILER-DAEMON@smtp.example.net (Mail Delivery System)"},
                                    {"Subject", "Undelivered Mail Returned to Sender"}},
                                   "This is the mail system at host smtp.example.net.\n\n"
                                   "I'm sorry to have to inform you that your message could not\n"
                                   "be delivered to one or more recipients. It's attached below.\n\n"
                                   "For further assistance, please send mail to <postmaster@example.net>\n\n"
                                   "                   The mail system\n\n"
                                   "<bob@example.com>: host mx.example.com[192.0.2.22] said: 550 5.7.1\n"
                                   "    Message rejected as spam (in reply to end of DATA command)\n"));
  ExpectFailure(Only(c), "bob@example.com", "5.7.1", "spamdetected", Bounce::kSoft);
}

TEST(Classify, UserUnknownAfterDataIsAFilter) {
  // Content filters answer "User unknown" after DATA; sisimai calls it filtered.
  Classification c = Classify(
      Make({{"From", "MAILER-DAEMON@smtp.example.net"}, {"Subject", "Undelivered Mail Returned to Sender"}},
           "<bob@example.com>: host mx.example.com[192.0.2.22] said: 550 Unknown user\n"
           "    bob@example.com (in reply to end of DATA command)\n"));
  ExpectFailure(Only(c), "bob@example.com", "5.0.0", "filtered", Bounce::kSoft);
}

TEST(Classify, FreeTextWithCrlfLineEnds) {
  Classification c = Classify(Make({{"From", "MAILER-DAEMON@mx.example.jp"}, {"Subject", "failure notice"}},
                                   WithCrlf("Hi. This is the qmail-send program at mx.example.jp.\n"
                                            "<kijitora@example.ne.jp>:\n"
                                            "Remote host said: 552 5.2.2 Mailbox full\n"
                                            "--- Below this line is a copy of the message.\n"
                                            "To: someone@example.com\n")));
  ExpectFailure(Only(c), "kijitora@example.ne.jp", "5.2.2", "mailboxfull", Bounce::kSoft);
  EXPECT_EQ(Only(c).diagnostic, "Remote host said: 552 5.2.2 Mailbox full");
}

TEST(Classify, MailerDaemonWithoutRecognisableReportIsStillABounce) {
  Classification c =
      Classify(Make({{"From", "MAILER-DAEMON@mx.example.com"}, {"Subject", "Warning"}}, "Hmm.\n"));
  EXPECT_EQ(c.kind, MessageKind::kBounce);
  EXPECT_TRUE(c.failed.empty());
}

TEST(Classify, ForwardedBounceFromAPersonIsNormal) {
  // Someone asking the help desk why their mail bounced must get a thread.
  Classification c = Classify(Make({{"From", kPersonFrom},
                                    {"Subject", "Fwd: Undelivered Mail Returned to Sender"},
                                    {"Return-Path", "<anna@example.org>"}},
                                   "Why does this happen?\n\n-------- Forwarded Message --------\n"
                                   "This is the mail system at host smtp.example.net.\n"
                                   "<bob@example.com>: host mx.example.com said: 550 5.1.1 User unknown\n"));
  EXPECT_EQ(c.kind, MessageKind::kNormal);
}

TEST(Classify, BounceBeatsItsAutoSubmittedHeader) {
  // Exim marks its bounces "Auto-Submitted: auto-replied"; they are bounces.
  Classification c =
      Classify(Make({{"From", "Mailer-Daemon@mx.example.org"}, {"Auto-Submitted", "auto-replied"}},
                    "The following address(es) failed:\n\n  bob@example.com\n    retry timeout exceeded\n"));
  ExpectFailure(Only(c), "bob@example.com", "", "expired", Bounce::kSoft);
}

TEST(Classify, AmazonSesBounceNotification) {
  Classification c =
      Classify(Make({{"From", "no-reply@sns.amazonaws.com"}, {"Subject", "AWS Notification Message"}},
                    R"({"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[)"
                    R"({"emailAddress":"bounce@simulator.amazonses.com","action":"failed","status":"5.1.1",)"
                    R"("diagnosticCode":"smtp; 550 5.1.1 user unknown"}]}})"));
  ExpectFailure(Only(c), "bounce@simulator.amazonses.com", "5.1.1", "userunknown", Bounce::kHard);
  EXPECT_EQ(Only(c).diagnostic, "550 5.1.1 user unknown");
}

TEST(Classify, JsonFromAPersonIsNormal) {
  Classification c = Classify(
      Make({{"From", kPersonFrom}, {"Subject", "our webhook payload"}}, R"({"notificationType":"Bounce"})"));
  EXPECT_EQ(c.kind, MessageKind::kNormal);
}

TEST(Classify, HostileInputStaysLinear) {
  // A mailer-daemon message of 4 MiB with many addresses and codes: the
  // classifier reads a bounded report and returns a bounded result.
  std::string body;
  while (body.size() < (4u << 20))
    body += "<a" + std::to_string(body.size()) + "@example.com>: 550 5.1.1 user unknown x@y\n";
  body += std::string(1 << 16, '@');
  Classification c = Classify(Make({{"From", "MAILER-DAEMON@mx.example.com"}}, body));
  EXPECT_EQ(c.kind, MessageKind::kBounce);
  EXPECT_LE(c.failed.size(), 1000u);
}

}  // namespace
}  // namespace mail

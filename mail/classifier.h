// mail::Classify: is this message written by a person, or is it machine mail
// that must never become a thread nor be answered (DESIGN.md §2 item 5)?
//
// The classifier is a pure function of a parsed mail::Message: no I/O and no
// state. It reads the typed fields, the headers, text_body, the report parts
// (report_type, delivery_status, feedback_report, returned_headers) and, for
// message/delivery-status parts the parser did not lift out, `parts`. It
// recognises, in this order:
//   - feedback reports: RFC 5965 ARF (report-type=feedback-report), Amazon SES
//     complaint notifications, Microsoft's older complaint format (an attached
//     message with X-HmXmrOriginalRecipient) and Apple Mail's unsubscribe
//     request (X-Apple-Unsubscribe: true);
//   - bounces and delivery notices: RFC 3464 delivery status (also a status
//     part inside a message a mailer daemon wrapped, and RFC 3464 fields pasted
//     into the text), Amazon SES bounce/delivery notifications, and the common
//     free-text reports (qmail, Exim, Sendmail, Postfix without DSN, Exchange,
//     Notes, Japanese carriers, ...). A DSN whose recipients were all
//     delivered, relayed or expanded, and a read receipt
//     (report-type=disposition-notification), is a delivery notice; a DSN that
//     reports only delays is a bounce with soft failures (reason "expired"
//     unless the text says more), as sisimai reports it. A free-text report
//     counts only from a machine (mailer-daemon/postmaster From, null sender,
//     X-Failed-Recipients) or with report wording and subject together: a
//     person forwarding a bounce ("Fwd: Undelivered Mail") is asking for help;
//   - auto-replies: RFC 3834 Auto-Submitted (anything but "no"), Precedence
//     bulk/junk/list/auto_reply, X-Autoreply/X-Autorespond/X-Autoresponder,
//     Exchange's X-MS-Exchange-Inbox-Rules-Loop and
//     X-MS-Exchange-Generated-Message-Source, Apple's X-Apple-Action,
//     out-of-office subjects in many languages (anchored: "Automatic reply:
//     ...", never a subject that merely contains "auto"), and an empty
//     Return-Path (<>). X-Auto-Response-Suppress on its own is NOT a signal:
//     Outlook puts it on ordinary mail.
// For every failed recipient the bounce says whether the failure is hard in
// sisimai's sense: only a bad address (userunknown, hostunknown, hasmoved, and
// notaccept unless temporary) is hard. Mailbox full, spam or policy blocks,
// expiry and the like are soft even with a 5.x.x status, because the address
// may work tomorrow.
//
// Hostile input costs linear time: at most the first MiB of the text body and
// of the delivery-status part is read, and at most 1000 failed recipients are
// reported.
//
// Thread-safety: pure functions over immutable data; call from any thread.
#ifndef MAILFORUM_MAIL_CLASSIFIER_H_
#define MAILFORUM_MAIL_CLASSIFIER_H_

#include <string>
#include <string_view>
#include <vector>

#include "mail/message.h"

namespace mail {

enum class MessageKind { kNormal, kAutoReply, kBounce, kFeedback, kDeliveryNotice };

// "normal", "auto_reply", "bounce", "feedback" or "delivery_notice".
std::string_view MessageKindName(MessageKind kind);

// One recipient that a bounce reports as not delivered (failed or delayed).
struct FailedRecipient {
  std::string address;     // lower-case, as the report gives it (normally local@domain)
  std::string status;      // RFC 3463 code such as "5.1.1"; "5.0.0" or "4.0.0" when only the class is
                           // known (a report that will not retry is permanent)
  int reply_code = 0;      // SMTP reply code such as 550; 0 when unknown
  bool hard = false;       // the address itself is bad; bounce scoring counts it at once
  std::string reason;      // sisimai-like reason: userunknown, hostunknown, hasmoved, notaccept,
                           // mailboxfull, filtered, blocked, spamdetected, policyviolation, rejected,
                           // expired, systemerror, networkerror, ..., onhold or undefined
  std::string diagnostic;  // the server's explanation, one line of UTF-8; may be empty
};

struct Classification {
  MessageKind kind = MessageKind::kNormal;
  std::string why;                      // the signal that decided, for logs and `mailforumctl trace`
  std::vector<FailedRecipient> failed;  // kBounce: every failed recipient, in report order (may be empty
                                        // when a bounce names nobody we can recognise); empty otherwise
  std::string feedback_type;  // kFeedback: lower-case Feedback-Type (abuse, opt-out, auth-failure, ...)
};

// Classifies `message`. Never fails: mail that shows no machine signal is
// kNormal, and a mailer-daemon message whose report names nobody is a kBounce
// with no failed recipients.
Classification Classify(const Message& message);

}  // namespace mail

#endif  // MAILFORUM_MAIL_CLASSIFIER_H_

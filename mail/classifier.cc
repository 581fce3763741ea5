#include "mail/classifier.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/ascii.h"
#include "mail/charset.h"

namespace mail {
namespace {

// Bounds on hostile input. A real report is a few kilobytes; anything beyond
// these is not read, so a huge message costs linear time and little memory.
constexpr size_t kMaxReportBytes = 1 << 20;    // of the text body and of the delivery-status part
constexpr size_t kMaxRecipients = 1000;        // failed recipients reported per message
constexpr size_t kMaxContextBytes = 64 << 10;  // report text weighed for one recipient's reason
constexpr size_t kPhraseGap = 80;              // what a '*' in a phrase may span, within one line
constexpr size_t kMaxDiagnosticBytes = 500;    // a free-text diagnostic; cut at a character boundary

// ---------------------------------------------------------------------------
// Text helpers. Case folding is ASCII-only on purpose: the signals are ASCII
// or exact UTF-8 byte strings, and ASCII folding never breaks a UTF-8
// sequence.

using base::AsciiLower;
constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string Lower(std::string_view s) { return base::AsciiLower(s); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// True when `s` starts with `lower_prefix`, ignoring ASCII case in `s`.
bool StartsWithNoCase(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i) {
    if (AsciiLower(s[i]) != lower_prefix[i]) return false;
  }
  return true;
}

bool EqualsNoCase(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() && StartsWithNoCase(s, lower);
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

template <typename T>
bool IsIn(const std::vector<T>& values, const T& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// Splits text into lines without their terminators; accepts LF, CRLF and CR.
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    lines.push_back(text.substr(start, i - start));
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

// Collapses every run of whitespace to one space: diagnostics are one line.
std::string OneLine(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : Trim(s)) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string JoinLower(const std::vector<std::string_view>& lines) {
  std::string text;
  for (std::string_view line : lines) {
    text += Lower(line);
    text += '\n';
  }
  return text;
}

// The first word of a header value: "auto-replied" in "auto-replied; x=y".
std::string_view FirstToken(std::string_view value) {
  value = Trim(value);
  return value.substr(0, value.find_first_of(" \t;("));
}

// Phrases are matched against lower-cased text. A '*' stands for up to
// kPhraseGap characters of the same line, so "user * does not exist" matches
// "user bob does not exist" but not two unrelated lines.
bool MatchesRest(std::string_view text, size_t from, std::string_view rest) {
  size_t star = rest.find('*');
  std::string_view piece = rest.substr(0, star);
  std::string_view window = text.substr(from, kPhraseGap + piece.size());
  size_t found = window.find(piece);
  if (found == std::string_view::npos || Contains(window.substr(0, found), "\n")) return false;
  if (star == std::string_view::npos) return true;
  return MatchesRest(text, from + found + piece.size(), rest.substr(star + 1));
}

bool MatchesPhrase(std::string_view lower_text, std::string_view phrase) {
  size_t star = phrase.find('*');
  if (star == std::string_view::npos) return Contains(lower_text, phrase);
  std::string_view first = phrase.substr(0, star);
  for (size_t at = lower_text.find(first); at != std::string_view::npos;
       at = lower_text.find(first, at + 1)) {
    if (MatchesRest(lower_text, at + first.size(), phrase.substr(star + 1))) return true;
  }
  return false;
}

bool MatchesAny(std::string_view lower_text, std::span<const std::string_view> phrases) {
  return std::any_of(phrases.begin(), phrases.end(),
                     [&](std::string_view p) { return MatchesPhrase(lower_text, p); });
}

// ---------------------------------------------------------------------------
// Addresses in free text.

constexpr bool IsLocalChar(char c) {
  return IsAlpha(c) || IsDigit(c) ||
         std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}
constexpr bool IsDomainChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '.' || c == '-' || c == '_'; }

struct FoundAddress {
  size_t begin = 0;     // offset in the scanned text
  std::string address;  // lower-case
};

// Every local@domain.tld in `text`, in order. The domain needs a dot and an
// alphabetic top-level label, which keeps "user@host" fragments of Received
// lines out. Each character is looked at a bounded number of times.
std::vector<FoundAddress> FindAddresses(std::string_view text) {
  std::vector<FoundAddress> found;
  size_t pos = 0;
  while ((pos = text.find('@', pos)) != std::string_view::npos) {
    size_t begin = pos;
    while (begin > 0 && IsLocalChar(text[begin - 1])) --begin;
    while (begin < pos && (text[begin] == '.' || text[begin] == '\'')) ++begin;
    size_t end = pos + 1;
    while (end < text.size() && IsDomainChar(text[end])) ++end;
    while (end > pos + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
    std::string_view domain = text.substr(pos + 1, end - pos - 1);
    size_t dot = domain.rfind('.');
    bool tld_ok = dot != std::string_view::npos && domain.size() - dot > 2 &&
                  std::all_of(domain.begin() + static_cast<std::ptrdiff_t>(dot) + 1, domain.end(), IsAlpha);
    if (begin < pos && tld_ok) found.push_back({begin, Lower(text.substr(begin, end - begin))});
    pos = std::max(end, pos + 1);
  }
  return found;
}

// The address in an RFC 3464 recipient field: "rfc822; <a@b>".
std::string DsnAddress(std::string_view value) {
  size_t semi = value.find(';');
  if (semi != std::string_view::npos) value.remove_prefix(semi + 1);
  value = Trim(value);
  while (!value.empty() && (value.front() == '<' || value.front() == '"')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '>' || value.back() == '"')) value.remove_suffix(1);
  value = Trim(value);
  if (!Contains(value, "@") || Contains(value, " ")) {
    auto addresses = FindAddresses(value);
    return addresses.empty() ? std::string() : addresses.front().address;
  }
  return Lower(value);
}

bool IsMachineLocalPart(std::string_view address) {
  // clang-format off
  static constexpr std::string_view kLocalParts[] = {
      "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "post_master", "mail.delivery.system"};
  std::string_view local = address.substr(0, address.find('@'));
  return std::any_of(std::begin(kLocalParts), std::end(kLocalParts),
                     [&](std::string_view l) { return EqualsNoCase(local, l); });
}

// ---------------------------------------------------------------------------
// Status and reply codes.

// The first RFC 3463 code ("5.1.1", "4.4.7", "5.7.509") in `text` that is not
// part of an IP address or a version number.
std::string FindStatus(std::string_view text) {
  auto digits_at = [&](size_t from) {
    size_t to = from;
    while (to < text.size() && to - from < 4 && IsDigit(text[to])) ++to;
    return to - from;
  };
  // clang-format on
  for (size_t i = 0; i + 4 < text.size(); ++i) {
    char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (i > 0 && (IsDigit(text[i - 1]) || text[i - 1] == '.' || IsAlpha(text[i - 1]))) continue;
    if (text[i + 1] != '.') continue;
    size_t subject = digits_at(i + 2);
    size_t dot = i + 2 + subject;
    if (subject == 0 || subject > 3 || dot >= text.size() || text[dot] != '.') continue;
    size_t detail = digits_at(dot + 1);
    size_t end = dot + 1 + detail;
    if (detail == 0 || detail > 3) continue;
    if (end < text.size() && (IsDigit(text[end]) || IsAlpha(text[end]))) continue;
    if (end + 1 < text.size() && text[end] == '.' && IsDigit(text[end + 1])) continue;
    return std::string(text.substr(i, end - i));
  }
  return {};
}

// The first 4xx/5xx SMTP reply code that stands as a word of its own:
// "550 ", "550-", "said: 552", "550:".
int FindReplyCode(std::string_view text) {
  static constexpr std::string_view kBefore = ":(<\"=[#";
  static constexpr std::string_view kAfter = "-)],\":";
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    char c = text[i];
    if ((c != '4' && c != '5') || text[i + 1] < '0' || text[i + 1] > '5' || !IsDigit(text[i + 2])) continue;
    if (i > 0 && !IsSpace(text[i - 1]) && !Contains(kBefore, std::string_view(&text[i - 1], 1))) continue;
    size_t k = i + 3;
    if (k < text.size() && !IsSpace(text[k]) && !Contains(kAfter, std::string_view(&text[k], 1))) continue;
    // "550-5.1.1" and "550-'text'" continue a reply; "550-1234" is a number.
    if (k + 1 < text.size() && text[k] == '-' && !IsDigit(text[k + 1]) && !IsSpace(text[k + 1]) &&
        text[k + 1] != '\'' && text[k + 1] != '"') {
      continue;
    }
    return (c - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
  }
  return 0;
}

// The Status field and the code the server quoted usually agree. When they
// do not, the one of the reply code's class wins, then the more specific
// one: MTAs put "5.0.0" or "5.1.1" in the Status field for anything refused
// at RCPT TO.
std::string PreferStatus(const std::string& field, const std::string& quoted, int reply_code) {
  if (field.empty()) return quoted;
  if (quoted.empty() || field == quoted) return field;
  if (reply_code != 0 && field.front() != quoted.front()) {
    char klass = static_cast<char>('0' + reply_code / 100);
    if (field.front() == klass) return field;
    if (quoted.front() == klass) return quoted;
  }
  // "5.0.0" says least, "5.1.0" more, "5.1.1" most.
  auto specificity = [](std::string_view s) {
    return (s.substr(1, 3) == ".0." ? 0 : 1) + (s.ends_with(".0") ? 0 : 1);
  };
  if (specificity(quoted) != specificity(field))
    return specificity(quoted) > specificity(field) ? quoted : field;
  std::string_view subject = std::string_view(field).substr(1, 3);
  if (field == "5.1.1" || field == "4.4.7" || field == "4.7.0" || subject == ".3." || subject == ".5.")
    return quoted;
  return field;
}

// ---------------------------------------------------------------------------
// Reasons. The phrase tables are ours, written from the wording of real MTAs;
// the reason names and the hard/soft split follow sisimai.

// The SMTP command that the remote server was answering when it failed.
enum class Command { kUnknown, kConnect, kMailFrom, kRcptTo, kData };

// Finds the command in one-line, lower-case text; the last one named wins,
// because transcripts list the commands in order.
Command FindCommand(std::string_view text) {
  struct Marker {
    std::string_view text;
    Command command;
  };
  // clang-format off
  static constexpr Marker kMarkers[] = {
      {"in reply to rcpt to", Command::kRcptTo},
      {"after rcpt to", Command::kRcptTo},
      {">>> rcpt to", Command::kRcptTo},
      {"rcpt to:<", Command::kRcptTo},
      {"our rcpt to", Command::kRcptTo},  // DragonFly: "did not like our RCPT TO"
      {"rcpt to response", Command::kRcptTo},  // qmail
      {"does not like recipient", Command::kRcptTo},  // qmail
      {"smtp:rcpt", Command::kRcptTo},
      {"[rcpt_to]", Command::kRcptTo},
      {"-------smtp command rcpt", Command::kRcptTo},
      {"in reply to mail from", Command::kMailFrom},
      {"after mail from", Command::kMailFrom},
      {">>> mail from", Command::kMailFrom},
      {"sender was rejected", Command::kMailFrom},  // qmail
      {"in reply to end of data", Command::kData},
      {"after end of data", Command::kData},
      {"in reply to data", Command::kData},
      {"after data", Command::kData},
      {">>> data", Command::kData},
      {"final data", Command::kData},
      {"after initial connection", Command::kConnect},
      {"in reply to helo", Command::kConnect},
      {"in reply to ehlo", Command::kConnect},
      {"my name was rejected", Command::kConnect},  // qmail
  };
  // clang-format on
  Command best = Command::kUnknown;
  size_t best_at = 0;
  for (const Marker& m : kMarkers) {
    size_t at = text.rfind(m.text);
    if (at != std::string_view::npos && (best == Command::kUnknown || at >= best_at)) {
      best = m.command;
      best_at = at;
    }
  }
  return best;
}

// clang-format off
// Phrase tables, one per reason, lower-case.
constexpr std::string_view kUserUnknown[] = {
    "user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient", "no such address",
    "no such account", "no such person", "unknown recipient", "recipient unknown", "unknown mailbox",
    "mailbox unknown", "unknown address", "address unknown", "addressee unknown", "unknown local part",
    "unknown local-part", "unknown or illegal user", "unknown e-mail address", "unknown email address",
    "mailbox not found", "mailbox does not exist", "mailbox doesn't exist", "mailbox is not found",
    "recipient not found", "user not found", "user not known", "address not found", "account not found",
    "recipient does not exist", "user does not exist", "address does not exist", "account does not exist",
    "user doesn't exist", "address doesn't exist", "account doesn't exist", "recipient doesn't exist",
    "user * does not exist", "mailbox * does not exist", "recipient * does not exist", "user * not found",
    "user * doesn't exist", "user * unknown", "invalid recipient", "invalid mailbox", "invalid address",
    "invalid user", "not a valid mailbox", "not a valid recipient", "not a valid user", "is not a known user",
    "no mailbox here by that name", "no account by that name", "no mailbox by that name", "not our customer",
    "badrcptto", "not in my validrcptto", "recipient address rejected: user",
    "recipient address rejected: unknown user", "recipient address rejected: invalid user",
    "recipient address rejected: access denied", "recipient not exist", "user not exist",
    "email account that you tried to reach does not exist", "unknown or invalid recipient",
    "mailbox unavailable or access denied", "no mailbox found", "not a local address",
    "this address no longer accepts mail", "no longer valid", "user not active", "unknown virtual user",
    "non-existent user", "nonexistent user", "non existent user", "no valid recipients",
    "destination addresses were unknown", "mailbox unavailable", "the recipient does not exist",
    "the email address you entered couldn't be found", "couldn't be found", "could not be found",
    "was not found in", "delivery error: dd this user doesn't have", "no existe", "utilisateur inconnu",
    "nessun utente", "benutzer unbekannt", "existiert nicht", "adresse nicht gefunden",
    "recipient rejected: unknown", "bad recipient", "bad destination mailbox", "sorry, no mailbox",
    "mailbox name not allowed", "no such local user", "recipient is not local",
    "not listed in domino directory", "not listed in public name & address book",
    "invalid final delivery userid", "recipient name is not recognized", "check if address is correct",
    "recipient address rejected.",
};
constexpr std::string_view kHostUnknown[] = {
    "host unknown", "unknown host", "host not found", "host * not found", "domain not found",
    "domain does not exist", "domain doesn't exist", "no such domain", "unknown domain",
    "unrouteable address", "unroutable address", "name or service not known", "host or domain name not found",
    "domain name not found", "all relevant mx records point to non-existent hosts", "illegal host/domain",
    "domain * does not exist", "domain must exist", "no such host", "invalid domain", "unresolvable domain",
    "nxdomain", "dns lookup failure", "domain is not valid", "couldn't find any host named",
    "could not find any host named", "account or domain may not exist", "domain is not reachable",
    "mx records for * do not exist", "unknown or illegal domain",
};
constexpr std::string_view kHasMoved[] = {
    "has moved", "user not local; please try", "no longer at this address", "address has changed",
    "mailbox has moved", "moved to another",
};
constexpr std::string_view kNotAccept[] = {
    "does not accept mail", "null mx", "not accepting any mail", "accepts no mail", "doesn't accept mail",
    "does not accept any mail", "mail is not accepted", "no mx for", "no mx found",
    "couldn't find a mail exchanger", "could not find a mail exchanger", "no smtp service",
    "no mx record found", "doesn't receive email", "does not receive email",
};
constexpr std::string_view kMailboxFull[] = {
    "mailbox full", "mailbox is full", "mailbox was full", "mail box full", "mailbox has exceeded",
    "mailbox size limit", "mailbox quota", "quota exceeded", "quota exceed", "over quota", "overquota",
    "exceeded storage", "exceeds * quota", "exceeded * quota", "over the allowed quota", "is over its quota",
    "disk quota", "mailfolder is full", "account is full", "inbox is full", "full mailbox",
    "insufficient storage", "not enough space", "storage limit", "too much mail data", "user is over",
    "mailbox exceeded", "box is full", "storage space", "quota full", "exceeds the storage", "quota",
};
constexpr std::string_view kMesgTooBig[] = {
    "message too large", "message too big", "message is too large", "message is too big",
    "message size exceeds", "message exceeds maximum size", "message length exceeds", "exceeds size limit",
    "size limit exceeded", "size exceeds", "message file too big", "mail too large", "message size limit",
    "exceeds the maximum size", "exceeded maximum size", "exceeds maximum message size", "too big for system",
};
constexpr std::string_view kExceedLimit[] = {
    "message header size exceeds limit", "exceeds the limit", "exceeded the limit", "limit exceeded",
    "exceeds fixed maximum message size", "message too large",
};
constexpr std::string_view kSuspend[] = {
    "account disabled", "account has been disabled", "account is disabled", "account has been suspended",
    "account is suspended", "account suspended", "mailbox disabled", "mailbox is disabled",
    "mailbox has been disabled", "has been suspended", "is suspended", "currently suspended",
    "temporarily disabled", "deactivated", "account inactive", "account is inactive", "is not active",
    "account has expired", "account expired", "mailbox is frozen", "account is frozen", "user suspended",
    "suspended", "boite du destinataire archivee", "recipient suspend", "is disabled", "temporary locked",
    "temporarily locked", "account is locked", "mailbox is locked", "account locked", "is inactive",
};
constexpr std::string_view kNoRelaying[] = {
    "relay access denied", "relaying denied", "relay denied", "relaying not allowed",
    "not permitted to relay", "relay not permitted", "relay not allowed", "unable to relay",
    "we do not relay", "relay prohibited", "not allowed to relay", "no relaying", "relaying mail to",
    "relay is not allowed", "relaying denied", "isn't in my list of allowed rcpthosts",
    "not in my list of allowed rcpthosts", "relay access", "do not relay", "relaying to",
    "relay is prohibited",
};
constexpr std::string_view kAuthFailure[] = {
    "spf check", "spf fail", "spf validation", "spf record", "spf=fail", "spf: ", "sender policy framework",
    "dmarc", "dkim", "authentication checks failed", "sender id", "senderid",
    "not authorized to send on behalf", "is not authorized to send", "not designated as permitted sender",
    "does not designate", "spf softfail", "spf permerror", "spf verification",
};
constexpr std::string_view kRequirePtr[] = {
    "reverse dns", "reverse lookup", "ptr record", "no ptr", "ptr lookup", "rdns", "reverse hostname",
    "no reverse", "cannot find your hostname", "cannot find your reverse hostname", "ip name lookup failed",
    "reverse-dns", "unresolvable", "client host rejected: cannot find", "is not resolvable",
    "no dns record for your ip", "doesn't resolve", "does not resolve",
};
constexpr std::string_view kBadReputation[] = {
    "reputation", "unusual rate of unsolicited mail", "unsolicited mail originating from your ip",
    "sender score", "senderscore",
};
constexpr std::string_view kVirusDetected[] = {
    "virus", "malware", "infected", "malicious",
};
constexpr std::string_view kSpamDetected[] = {
    "spam", "junk mail", "unsolicited", "bulk mail", "rejected as bulk", "message content rejected",
    "content filter rejection", "mail appears to be", "appears to be unsolicited", "considered unsolicited",
    "scored too high", "score too high", "high probability of", "suspicious content", "content rejected",
    "phishing",
};
constexpr std::string_view kRejected[] = {
    "sender rejected", "sender address rejected", "sender denied", "sender not allowed",
    "sender is not allowed", "domain of sender address", "sender verify failed", "sender verification failed",
    "sender domain", "invalid sender", "bad sender", "sender unknown", "unknown sender",
    "sender address is invalid", "sender not pre-approved", "sender is blacklisted", "sender blocked",
    "envelope sender", "sender address invalid", "from address", "sender's address", "senders address",
    "address of sender", "your email address has been banned", "mail from address", "return path",
    "sender mismatch", "not accept mail from", "we do not accept mail from", "email from your domain",
    "refused to accept the sender", "sender email address", "sender ip", "sender's domain", "from: header",
    "sender domain must exist", "may not have permission to post",
};
// Lists of bad senders (their names contain "spam", so they come before kSpamDetected).
constexpr std::string_view kBlockList[] = {
    "blacklist", "black list", "blocklist", "block list", "denylist", "dnsbl", " rbl", "spamhaus", "spamcop",
    "sorbs", "barracudacentral", "cbl.abuseat.org",
};
constexpr std::string_view kBlocked[] = {
    "listed in", "listed at", "listed on", "blocked", "banned", "your ip", "your host", "client host",
    "connection refused by", "access denied", "dynamic ip", "dynamic address", "residential", "dial-up",
    "dialup", "not allowed to send", "use the smtp server of your isp", "please use your isp", "refused",
    "rejected by the recipient's", "denied by", "ip address", "poor ip", "connections from", "helo", "ehlo",
    "greylist",
};
constexpr std::string_view kFiltered[] = {
    "filtered", "filter", "delivery not authorized", "not accepting mail with", "refused by recipient",
    "rejected due to user rules", "recipient is not accepting", "does not accept messages from",
    "message rejected by recipient", "rejected by recipient", "blocked by recipient", "mail rejected by",
    "no permission", "not allowed", "not authorized", "prohibited", "header error", "forbidden",
};
constexpr std::string_view kPolicyViolation[] = {
    "policy violation", "violates", "violation of", "policy reasons", "policy reason", "content policy",
    "rejected by policy", "due to policy", "by policy", "local policy", "email policy", "mail policy",
    "security policy", "policy restrictions", "policy rejection", "against policy", "blocked by policy",
    "header error", "message rejected due to", "this message was rejected", "contains unacceptable",
    "has been rejected", "not accepted for policy",
};
constexpr std::string_view kTooManyConn[] = {
    "too many connections", "too many concurrent", "connection limit", "too many simultaneous",
    "too many smtp sessions", "max connections", "maximum number of connections", "too many open",
    "concurrent connections",
};
constexpr std::string_view kSpeeding[] = {
    "rate limit", "ratelimit", "rate-limit", "too many messages", "sending too fast", "rate exceeded",
    "throttl", "too fast", "too many emails", "too many mails", "too many recipients",
};
constexpr std::string_view kSystemFull[] = {
    "system full", "mail system full", "disk full", "out of disk space", "insufficient system storage",
    "not enough disk space", "disk is full", "no space left",
};
constexpr std::string_view kNetworkError[] = {
    "could not connect", "couldn't connect", "unable to connect", "connection refused", "no route to host",
    "network is unreachable", "host unreachable", "connection timed out", "connection reset", "name server",
    "temporary failure in name resolution", "mail loop", "loops back to myself", "too many hops",
    "hop count exceeded", "routing loop", "lost connection", "connection dropped", "dns error", "dns failure",
    "lookup failure", "network error", "sorry, i couldn't find any host", "host not reachable", "unreachable",
    "timed out", "timeout", "no answer", "could not be reached", "protocol error",
};
// Retry limits and connections that never succeeded, checked before the
// network wording they contain ("timeout").
constexpr std::string_view kRetryLimit[] = {
    "retry timeout exceeded", "retry time not reached", "delivery time expired", "failing for a long time",
    "message expired", "connection timed out", "operation timed out", "host not reachable",
    "did not accept our requests to connect", "in the queue too long", "message timed out",
    "server did not respond",
};
// Policy wording that also says "blocked" or "denied".
constexpr std::string_view kPolicyWording[] = {
    "denied by policy", "content presents a potential", "policy violation", "for policy reasons",
    "violates our", "against our policy",
};
constexpr std::string_view kExpired[] = {
    "retry timeout exceeded", "retry time not reached", "delivery time expired", "message expired",
    "has been delayed", "giving up", "gave up", "queue time", "failing for a long time",
    "have been unable to deliver", "could not be delivered for", "was not delivered within", "expired",
    "too long in queue", "lifetime", "maximum time", "delivery attempts will continue", "still trying",
    "will be retried", "will keep trying", "could not deliver for", "message is delayed",
    "delivery is delayed", "delayed",
};
constexpr std::string_view kFailedStartTls[] = {
    "starttls", "tls required", "tls is required", "requires tls", "must use tls", "tls negotiation failed",
    "encryption required", "requiretls",
};
constexpr std::string_view kContentError[] = {
    "improper use of 8-bit data", "8-bit data in message header", "mime complexity", "invalid mime",
    "message content", "content-type", "charset", "header size", "too many received", "too many headers",
    "data format error", "illegal character", "bare lf",
};
constexpr std::string_view kNotCompliantRfc[] = {
    "rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "rfc 822", "rfc822 compliant", "not rfc compliant",
    "not compliant with rfc", "duplicate header", "multiple addresses in from", "missing date header",
    "missing message-id", "message-id header", "non-compliant", "not compliant",
};
constexpr std::string_view kSyntaxError[] = {
    "syntax error", "command unrecognized", "unrecognized command", "command not recognized", "bad command",
    "invalid command", "bad sequence of commands", "line too long",
};
constexpr std::string_view kMailerError[] = {
    "mailer error", "command failed", "exit status", "procmail", "exited with", "program failed",
    "unable to run", "permission denied", "x-unix", "local delivery failed", "command died", "bin/sh", "sh: ",
    "process exited",
};
constexpr std::string_view kSystemError[] = {
    "system error", "internal error", "server error", "temporary failure", "local error",
    "local configuration error", "configuration error", "interrupted", "server is busy",
    "service unavailable", "service not available", "try again later", "resources temporarily unavailable",
    "insufficient system resources", "system is not available", "i/o error", "server failure",
};
constexpr std::string_view kSecurityError[] = {
    "authentication required", "authentication failed", "must authenticate", "not authenticated",
    "certificate", "encryption", "security", "unauthenticated", "access denied", "authentication",
};

// Name servers that failed to answer, as opposed to names that do not exist.
constexpr std::string_view kNameServerTrouble[] = {
    "host not found, try again", "temporary failure in name resolution", "dns error", "servfail",
    "dns timeout",
};

struct ReasonTable {
  std::string_view reason;
  std::span<const std::string_view> phrases;
};

// Text is checked against these in order: specific wording first, vague
// wording ("blocked", "not allowed") last, so "mailbox full" beats "blocked"
// and "domain of sender address" beats "does not exist".
constexpr ReasonTable kTextOrder[] = {
    {"mailboxfull", kMailboxFull},
    {"mesgtoobig", kMesgTooBig},
    {"exceedlimit", kExceedLimit},
    {"hasmoved", kHasMoved},
    {"norelaying", kNoRelaying},
    {"authfailure", kAuthFailure},
    {"requireptr", kRequirePtr},
    {"rejected", kRejected},
    {"suspend", kSuspend},
    {"notaccept", kNotAccept},
    {"networkerror", kNameServerTrouble},
    {"userunknown", kUserUnknown},
    {"hostunknown", kHostUnknown},
    {"notcompliantrfc", kNotCompliantRfc},
    {"failedstarttls", kFailedStartTls},
    {"toomanyconn", kTooManyConn},
    {"badreputation", kBadReputation},
    {"virusdetected", kVirusDetected},
    {"blocked", kBlockList},
    {"spamdetected", kSpamDetected},
    {"speeding", kSpeeding},
    {"expired", kRetryLimit},
    {"policyviolation", kPolicyWording},
    {"blocked", kBlocked},
    {"policyviolation", kPolicyViolation},
    {"filtered", kFiltered},
    {"contenterror", kContentError},
    {"systemfull", kSystemFull},
    {"mailererror", kMailerError},
    {"networkerror", kNetworkError},
    {"expired", kExpired},
    {"syntaxerror", kSyntaxError},
    {"systemerror", kSystemError},
    {"securityerror", kSecurityError},
};
// clang-format on

std::string_view ReasonFromText(std::string_view lower) {
  for (const ReasonTable& table : kTextOrder) {
    if (MatchesAny(lower, table.phrases)) return table.reason;
  }
  return {};
}

// The few words that content filters borrow when they refuse a message after
// DATA (Japanese carriers answer "550 : User unknown" to what they take for
// spam).
// clang-format off
constexpr std::string_view kFakeableUserUnknown[] = {
    "user unknown", "unknown user", "no such user", "user not exist", "unknown recipient",
    "recipient unknown",
};
// clang-format on

// "550 <a@b>: User unknown": a reply that names the recipient it refuses was
// given at RCPT TO, when the server knew which recipient it meant; filters
// after DATA say "550 : User unknown".
bool NamesRefusedRecipient(std::string_view lower_diagnostic) {
  for (std::string_view phrase : kFakeableUserUnknown) {
    for (size_t at = lower_diagnostic.find(phrase); at != std::string_view::npos;
         at = lower_diagnostic.find(phrase, at + 1)) {
      std::string_view before = Trim(lower_diagnostic.substr(0, at));
      if (!before.ends_with(">:")) continue;
      size_t open = before.rfind('<');
      if (open != std::string_view::npos && Contains(before.substr(open), "@")) return true;
    }
  }
  return false;
}

// RFC 3463 codes whose meaning names a reason.
std::string_view ReasonFromStatus(std::string_view status) {
  struct Entry {
    std::string_view code;
    std::string_view reason;
  };
  // clang-format off
  static constexpr Entry kTable[] = {
      {"5.1.0", "userunknown"},   {"5.1.1", "userunknown"},   {"5.1.2", "hostunknown"},
      {"5.1.3", "userunknown"},   {"5.1.4", "filtered"},      {"5.1.6", "hasmoved"},
      {"4.1.6", "hasmoved"},      {"5.1.7", "rejected"},      {"4.1.7", "rejected"},
      {"5.1.8", "rejected"},      {"4.1.8", "rejected"},      {"5.1.9", "systemerror"},
      {"5.1.10", "notaccept"},    {"5.2.0", "filtered"},      {"5.2.1", "filtered"},
      {"4.2.1", "blocked"},       {"5.2.2", "mailboxfull"},   {"4.2.2", "mailboxfull"},
      {"5.2.3", "exceedlimit"},   {"4.2.3", "exceedlimit"},   {"5.2.4", "filtered"},
      {"5.3.0", "systemerror"},   {"5.3.1", "systemfull"},    {"4.3.1", "systemfull"},
      {"5.3.2", "notaccept"},     {"4.3.2", "notaccept"},     {"5.3.3", "systemerror"},
      {"5.3.4", "mesgtoobig"},    {"5.3.5", "systemerror"},   {"5.4.0", "networkerror"},
      {"5.4.3", "systemerror"},   {"4.4.1", "expired"},       {"4.4.2", "networkerror"},
      {"4.4.3", "systemerror"},   {"5.4.4", "hostunknown"},   {"4.4.4", "networkerror"},
      {"4.4.5", "systemfull"},    {"4.4.6", "networkerror"},  {"5.4.6", "networkerror"},
      {"4.4.7", "expired"},       {"5.4.7", "expired"},       {"5.5.2", "syntaxerror"},
      {"5.5.3", "toomanyconn"},   {"5.5.4", "systemerror"},   {"5.5.5", "systemerror"},
      {"5.6.0", "contenterror"},  {"5.6.1", "contenterror"},  {"5.6.9", "contenterror"},
      {"4.7.1", "blocked"},       {"5.7.13", "suspend"},      {"5.7.16", "mesgtoobig"},
      {"5.7.17", "hasmoved"},     {"5.7.18", "hasmoved"},     {"5.7.20", "authfailure"},
      {"5.7.21", "authfailure"},  {"5.7.22", "authfailure"},  {"5.7.23", "authfailure"},
      {"5.7.24", "authfailure"},  {"5.7.25", "requireptr"},   {"5.7.26", "authfailure"},
      {"5.7.27", "notaccept"},
      // Microsoft's extension: "Remote server returned unknown recipient".
      {"5.1.351", "userunknown"},
  };
  // clang-format on
  for (const Entry& e : kTable) {
    if (e.code == status) return e.reason;
  }
  return {};
}

// Codes precise enough to beat any wording.
bool IsDecisiveStatus(std::string_view status) {
  // clang-format off
  static constexpr std::string_view kDecisive[] = {
      "5.1.6", "4.1.6", "5.1.7", "4.1.7", "5.1.8", "4.1.8", "5.7.27", "5.2.2", "4.2.2", "5.2.3", "5.3.4",
      "5.7.20", "5.7.21", "5.7.22", "5.7.23", "5.7.24", "5.7.25", "5.7.26",
  };
  // clang-format on
  return std::find(std::begin(kDecisive), std::end(kDecisive), status) != std::end(kDecisive);
}

// What is known about one failed recipient, from the DSN and the report text.
struct Evidence {
  std::string status;           // RFC 3463 code, "" when none was found
  int reply_code = 0;           // SMTP reply code, 0 when none was found
  std::string diagnostic;       // the server's words, one line
  std::string context;          // the report's other lines about this recipient, lower-case
  std::string diagnostic_type;  // RFC 3464 diagnostic type, lower-case ("smtp", "x-unix")
  bool delayed = false;         // Action: delayed
};

std::string DecideReason(const Evidence& e) {
  // A local delivery program failed (procmail, a pipe): not the address.
  if (e.diagnostic_type.starts_with("x-unix")) return "mailererror";
  std::string diagnostic = Lower(e.diagnostic);
  std::string_view by_status = ReasonFromStatus(e.status);
  if (IsDecisiveStatus(e.status)) return std::string(by_status);

  // The server's own words first, then what the report says around them.
  std::string_view by_text = ReasonFromText(diagnostic);
  if (by_text.empty()) by_text = ReasonFromText(e.context);
  Command command = FindCommand(OneLine(diagnostic + "\n" + e.context));
  bool temporary = e.status.starts_with("4") || (e.reply_code >= 400 && e.reply_code < 500);
  bool bad_address = by_text == "userunknown" || by_text == "hostunknown";

  // A name lookup that failed for now is a network problem; one that failed
  // for good (5.1.2, 5.4.4) is a domain that does not exist.
  if (by_text == "hostunknown" && temporary) return "networkerror";
  if (by_text == "networkerror" && by_status == "hostunknown") return "hostunknown";
  // Refused before any recipient was named: the address is not the problem.
  if (bad_address && command == Command::kConnect) return "blocked";
  if (bad_address && command == Command::kMailFrom) return "rejected";
  // A remote server's "user unknown" is believed when the status code says
  // so or it answered RCPT TO; after DATA, or when we cannot tell, it is a
  // content filter speaking (sisimai reads it the same way). Words without
  // any SMTP reply are the reporting system's own verdict.
  if (by_text == "userunknown" && by_status != "userunknown" && command != Command::kRcptTo &&
      e.reply_code != 0 && MatchesAny(diagnostic.empty() ? e.context : diagnostic, kFakeableUserUnknown) &&
      !NamesRefusedRecipient(diagnostic)) {
    return "filtered";
  }
  if (!by_text.empty()) return std::string(by_text);
  if (!by_status.empty()) return std::string(by_status);
  if (command == Command::kMailFrom) return "rejected";
  std::string_view subject = std::string_view(e.status).substr(std::min<size_t>(e.status.size(), 1), 2);
  if (subject == ".6") return "contenterror";
  if (subject == ".7") return "securityerror";
  if (e.delayed) return "expired";
  if (command == Command::kConnect) return "blocked";
  return diagnostic.empty() && e.context.empty() ? "undefined" : "onhold";
}

// Sisimai's hard bounce: the address itself is bad.
bool IsHardReason(std::string_view reason, std::string_view status) {
  if (reason == "userunknown" || reason == "hostunknown" || reason == "hasmoved") return true;
  // A domain that accepts no mail at all, unless the report will try again.
  return reason == "notaccept" && !status.starts_with("4");
}

FailedRecipient MakeFailed(std::string address, Evidence e) {
  // RFC 3463 "X.0.0" when only the class is known: from the reply code, or
  // from whether the report says it will try again.
  if (e.status.empty() && e.reply_code >= 400) e.status = std::to_string(e.reply_code / 100) + ".0.0";
  if (e.status.empty()) {
    // clang-format off
    static constexpr std::string_view kTemporary[] = {
        "temporary", "will be retried", "will retry", "still trying", "will keep trying",
        "delivery attempts will continue", "has been delayed", "is delayed", "not yet been delivered",
        "retry timeout", "will try again",
    };
    // clang-format on
    bool temporary = e.delayed || MatchesAny(OneLine(Lower(e.diagnostic) + " " + e.context), kTemporary);
    e.status = temporary ? "4.0.0" : "5.0.0";
  }
  FailedRecipient r;
  r.address = std::move(address);
  r.reason = DecideReason(e);
  r.hard = IsHardReason(r.reason, e.status);
  r.status = std::move(e.status);
  r.reply_code = e.reply_code;
  r.diagnostic = OneLine(e.diagnostic);
  return r;
}

// ---------------------------------------------------------------------------
// RFC 3464 delivery status.

struct Field {
  std::string_view name;
  std::string value;
};

// "Name: value" lines with continuation lines folded in; a blank line yields
// a field with an empty name (a group separator).
std::vector<Field> ParseFields(std::string_view text) {
  std::vector<Field> fields;
  for (std::string_view line : SplitLines(CutUtf8(text, kMaxReportBytes))) {
    if (Trim(line).empty()) {
      fields.push_back({{}, {}});
      continue;
    }
    if (IsSpace(line.front()) && !fields.empty() && !fields.back().name.empty()) {
      fields.back().value += ' ';
      fields.back().value += Trim(line);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view name = Trim(line.substr(0, colon));
    if (Contains(name, " ")) continue;
    fields.push_back({name, std::string(Trim(line.substr(colon + 1)))});
  }
  return fields;
}

struct DsnRecipient {
  std::string address;
  std::string action;  // lower-case
  std::string status;  // the Status field's code
  Evidence evidence;
};

// The per-recipient groups of a delivery-status body. A group starts at its
// first recipient field; Final-Recipient wins over X-Actual-Recipient and
// Original-Recipient.
std::vector<DsnRecipient> ParseDeliveryStatus(std::string_view text) {
  std::vector<DsnRecipient> recipients;
  DsnRecipient current;
  std::string original;
  bool open = false;  // `current` has a recipient field
  auto flush = [&] {
    if (open && current.address.empty()) current.address = original;
    if (open && !current.address.empty() && recipients.size() < kMaxRecipients) {
      recipients.push_back(std::move(current));
    }
    current = DsnRecipient{};
    original.clear();
    open = false;
  };
  for (const Field& f : ParseFields(text)) {
    if (f.name.empty()) {
      if (open && !current.address.empty()) flush();
    } else if (EqualsNoCase(f.name, "final-recipient") || EqualsNoCase(f.name, "x-actual-recipient")) {
      bool final = EqualsNoCase(f.name, "final-recipient");
      if (final && open && !current.address.empty()) flush();
      if (final || current.address.empty()) current.address = DsnAddress(f.value);
      open = true;
    } else if (EqualsNoCase(f.name, "original-recipient")) {
      if (open && !current.address.empty() && !original.empty()) flush();
      original = DsnAddress(f.value);
      open = true;
    } else if (EqualsNoCase(f.name, "action")) {
      current.action = Lower(FirstToken(f.value));
    } else if (EqualsNoCase(f.name, "status")) {
      current.status = FindStatus(f.value);
    } else if (EqualsNoCase(f.name, "diagnostic-code")) {
      std::string_view value = f.value;
      size_t semi = value.find(';');
      if (semi != std::string_view::npos) {
        current.evidence.diagnostic_type = Lower(Trim(value.substr(0, semi)));
        value.remove_prefix(semi + 1);
      }
      current.evidence.diagnostic = OneLine(value);
    }
  }
  flush();
  return recipients;
}

bool IsDeliveredAction(std::string_view action) {
  // "deliverable" answers an address verification request (Postfix).
  return action == "delivered" || action == "relayed" || action == "expanded" || action == "deliverable";
}

// ---------------------------------------------------------------------------
// Free-text reports.

// A line that starts the copy of the returned message: nothing after it is
// about the failure.
bool StartsReturnedMessage(std::string_view line) {
  std::string lower = Lower(Trim(line));
  if (lower.empty()) return false;
  // clang-format off
  static constexpr std::string_view kMarkers[] = {
      "below this line is a copy of the message", "this is a copy of the message", "original message follows",
      "unsent message follows", "returned message follows", "message headers follow",
      "headers of the original message", "original message headers", "content-type: message/rfc822",
      "------ original message", "----- original message", "--- original message", "the original message was",
      "original message --", "message text follows", "returned message below",
      "this is a copy of your message",
  };
  // clang-format on
  if (MatchesAny(lower, kMarkers) && !Contains(lower, "received at")) return true;
  // The returned message's own header block, pasted without a marker.
  static constexpr std::string_view kHeaders[] = {"return-path:",    "received: from", "received: by",
                                                  "dkim-signature:", "message-id:",    "mime-version:"};
  return !IsSpace(line.front()) && std::any_of(std::begin(kHeaders), std::end(kHeaders),
                                               [&](std::string_view h) { return lower.starts_with(h); });
}

// The report part of a text body: up to the copy of the returned message.
std::vector<std::string_view> ReportLines(std::string_view body) {
  std::vector<std::string_view> lines;
  for (std::string_view line : SplitLines(CutUtf8(body, kMaxReportBytes))) {
    if (StartsReturnedMessage(line)) break;
    lines.push_back(line);
  }
  return lines;
}

// The header lines of the returned message when it is pasted into the body.
std::vector<std::string_view> PastedHeaderLines(std::string_view body) {
  std::vector<std::string_view> lines;
  bool in_copy = false;
  for (std::string_view line : SplitLines(CutUtf8(body, kMaxReportBytes))) {
    if (!in_copy) {
      in_copy = StartsReturnedMessage(line);
      // The marker line is the first header when it is one ("Return-Path: …").
      size_t colon = line.find(':');
      bool header = colon != std::string_view::npos && colon > 0 && !Contains(line.substr(0, colon), " ");
      if (in_copy && header) lines.push_back(line);
      continue;
    }
    if (!Trim(line).empty()) {
      lines.push_back(line);
    } else if (!lines.empty()) {
      break;  // the end of the header block; blank lines before it are skipped
    }
  }
  return lines;
}

// Words before an address on its line that say it is not a recipient.
bool NamesSenderOrHelper(std::string_view lower_prefix) {
  // clang-format off
  static constexpr std::string_view kWords[] = {
      "mail from", "from:", "envelope-from", "return-path", "sender", "sent by", "message-id",
      "generated from", "generated by", "contact", "assistance", "send mail to", "reply-to", "expanded from",
      "originally", "postmaster", "administrator", "webmaster", "mailto:", "help", "helo", "ehlo", "by ",
  };
  // clang-format on
  return MatchesAny(lower_prefix, kWords);
}

// True when only spaces, quotes and '<' precede offset `at` of `line`.
bool OpensLine(std::string_view line, size_t at) {
  return std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(at),
                     [](char c) { return IsSpace(c) || c == '<' || c == '"' || c == '\''; });
}

struct TextRecipient {
  std::string address;
  std::vector<std::string_view> lines;  // the report lines about this recipient
};

struct ReportScan {
  std::vector<TextRecipient> recipients;
  std::vector<std::string_view> preamble;  // report lines before the first recipient
};

// Splits the report into recipients and their lines: each line belongs to
// the recipient most recently named. Reports list recipients at the start of
// a line ("<a@b>:", "  a@b"); an address inside a line (a helpdesk, the
// sender) only counts when no line starts with one. When `known` is given
// (X-Failed-Recipients, the DSN) only those addresses are recipients.
// `not_recipients` starts with the report's own From address.
ReportScan ScanReport(std::string_view body, const std::vector<std::string>& not_recipients,
                      const std::vector<std::string>& known) {
  std::vector<std::string_view> lines = ReportLines(body);
  auto named_in = [&](std::string_view line, bool leading_only) -> std::string {
    for (const FoundAddress& a : FindAddresses(line)) {
      if (!known.empty()) {
        if (IsIn(known, a.address)) return a.address;
      } else if (OpensLine(line, a.begin)) {
        if (a.address != not_recipients.front()) return a.address;
      } else if (!leading_only && !NamesSenderOrHelper(Lower(line.substr(0, a.begin))) &&
                 !IsIn(not_recipients, a.address)) {
        return a.address;
      }
    }
    return {};
  };
  bool leading_only = known.empty() && std::any_of(lines.begin(), lines.end(), [&](std::string_view line) {
                        return !named_in(line, true).empty();
                      });
  ReportScan scan;
  TextRecipient* current = nullptr;
  for (std::string_view line : lines) {
    std::string address = named_in(line, leading_only);
    if (!address.empty()) {
      auto it = std::find_if(scan.recipients.begin(), scan.recipients.end(),
                             [&](const TextRecipient& r) { return r.address == address; });
      if (it != scan.recipients.end()) {
        current = &*it;
      } else if (scan.recipients.size() < kMaxRecipients) {
        current = &scan.recipients.emplace_back(TextRecipient{address, {}});
      }
    }
    (current != nullptr ? current->lines : scan.preamble).push_back(line);
  }
  return scan;
}

const TextRecipient* FindInScan(const ReportScan& scan, std::string_view address) {
  for (const TextRecipient& r : scan.recipients) {
    if (r.address == address) return &r;
  }
  return nullptr;
}

// The server's own words among a recipient's lines: the first line with a
// reply or status code and its continuation lines, else all of them.
std::string PickDiagnostic(const std::vector<std::string_view>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    if (FindReplyCode(lines[i]) == 0 && FindStatus(lines[i]).empty()) continue;
    std::string text(lines[i]);
    for (size_t j = i + 1; j < lines.size() && j < i + 3; ++j) {
      std::string_view next = Trim(lines[j]);
      if (next.empty() || next.starts_with("<<<") || next.starts_with(">>>") ||
          FindReplyCode(next.substr(0, 4)) != 0) {
        break;
      }
      text += ' ';
      text += next;
    }
    return OneLine(text);
  }
  std::string text;
  for (std::string_view line : lines) (text += line) += ' ';
  return std::string(CutUtf8(OneLine(text), kMaxDiagnosticBytes));
}

// Adds what the report's lines about a recipient say; the DSN's fields, when
// present, are kept.
void AddReportEvidence(Evidence& e, const std::vector<std::string_view>& lines, std::string_view preamble) {
  std::string diagnostic = PickDiagnostic(lines);
  e.context = JoinLower(lines);
  if (e.diagnostic.empty()) e.diagnostic = diagnostic;
  if (e.status.empty()) e.status = FindStatus(diagnostic);
  if (e.status.empty()) e.status = FindStatus(e.context);
  if (e.reply_code == 0) e.reply_code = FindReplyCode(diagnostic);
  if (e.reply_code == 0) e.reply_code = FindReplyCode(e.context);
  e.context += preamble;
  e.context.resize(CutUtf8(e.context, kMaxContextBytes).size());
}

// Whether each part lies inside an attached message (message/rfc822).
std::vector<bool> InsideAttachedMessage(const Message& m) {
  std::vector<bool> inside(m.parts.size(), false);
  for (size_t i = 0; i < m.parts.size(); ++i) {
    for (int child : m.parts[i].children) {
      if (child > static_cast<int>(i) && static_cast<size_t>(child) < inside.size()) {
        inside[static_cast<size_t>(child)] = inside[i] || m.parts[i].kind == MimePart::Kind::kMessage;
      }
    }
  }
  return inside;
}

// The text of the report: text_body, or when that is empty the first text
// part of the message itself (the parser reads a multipart whose boundary
// never appears as text, without making it a body).
std::string_view ReportText(const Message& m) {
  if (!m.text_body.empty()) return m.text_body;
  std::vector<bool> inside = InsideAttachedMessage(m);
  for (size_t i = 0; i < m.parts.size(); ++i) {
    if (m.parts[i].kind == MimePart::Kind::kText && !inside[i]) return m.parts[i].body;
  }
  return {};
}

// The header block of the returned message: the parser's returned_headers
// (set for multipart/report), else that of a message attached to the
// top-level message (a message/rfc822 part's body is its raw bytes).
std::string_view ReturnedHeaders(const Message& m) {
  if (!m.returned_headers.empty() || m.parts.empty()) return m.returned_headers;
  std::vector<int> top = m.parts[0].children;
  top.push_back(0);
  for (int index : top) {
    if (index < 0 || static_cast<size_t>(index) >= m.parts.size()) continue;
    const MimePart& p = m.parts[static_cast<size_t>(index)];
    if (p.kind != MimePart::Kind::kMessage) continue;
    std::string_view raw = CutUtf8(p.body, kMaxContextBytes);
    size_t end = std::min(raw.find("\n\n"), raw.find("\r\n\r\n"));
    return raw.substr(0, end);
  }
  return {};
}

// Addresses the report cannot be about: the report's own participants and
// the sender of the returned message. The first element is always the
// report's From address ("" when it has none). Delivered-To and
// X-Original-To are left out: some agents (DragonFly) put the failed
// recipient there.
std::vector<std::string> NotRecipients(const Message& m) {
  std::vector<std::string> out{m.from ? Lower(Trim(m.from->address)) : std::string()};
  auto add = [&](std::string_view a) {
    std::string lower = Lower(Trim(a));
    if (!lower.empty() && !IsIn(out, lower)) out.push_back(std::move(lower));
  };
  if (m.sender) add(m.sender->address);
  for (const Address& a : m.reply_to) add(a.address);
  for (const Address& a : m.to) add(a.address);
  for (const Address& a : m.cc) add(a.address);
  if (m.return_path) add(*m.return_path);
  auto add_originator = [&](std::string_view name, std::string_view value) {
    if (EqualsNoCase(name, "from") || EqualsNoCase(name, "return-path") || EqualsNoCase(name, "sender") ||
        EqualsNoCase(name, "reply-to")) {
      for (const FoundAddress& a : FindAddresses(value)) add(a.address);
    }
  };
  for (const Field& f : ParseFields(ReturnedHeaders(m))) add_originator(f.name, f.value);
  for (std::string_view line : PastedHeaderLines(ReportText(m))) {
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) add_originator(Trim(line.substr(0, colon)), line.substr(colon + 1));
  }
  return out;
}

// The recipients of the returned message (its To header), for reports that
// name nobody.
std::vector<std::string> ReturnedRecipients(const Message& m) {
  std::vector<std::string> out;
  for (const Field& f : ParseFields(ReturnedHeaders(m))) {
    if (!EqualsNoCase(f.name, "to")) continue;
    for (const FoundAddress& a : FindAddresses(f.value)) out.push_back(a.address);
  }
  if (!out.empty()) return out;
  for (std::string_view line : PastedHeaderLines(ReportText(m))) {
    if (!StartsWithNoCase(line, "to:")) continue;
    for (const FoundAddress& a : FindAddresses(line)) out.push_back(a.address);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Auto-replies.

// Out-of-office subject prefixes, lower-case (ASCII folding only), each
// followed in the subject by a colon or the end of the subject.
// clang-format off
constexpr std::string_view kAutoReplySubjects[] = {
    "out of office", "out of office autoreply", "out of office reply", "out of the office", "automatic reply",
    "auto reply", "auto-reply", "autoreply", "auto response", "auto-response", "autoresponse",
    "automatic response", "auto", "vacation", "vacation reply", "away from the office", "abwesenheitsnotiz",
    "automatische antwort", "r\xC3\xA9ponse automatique", "r\xC3\x89ponse automatique", "absence du bureau",
    "respuesta autom\xC3\xA1tica", "fuera de la oficina", "risposta automatica", "fuori ufficio",
    "resposta autom\xC3\xA1tica", "automatisch antwoord", "afwezig", "autosvar", "automatisk svar",
    "automaattinen vastaus", "automatyczna odpowied\xC5\xBA", "automatick\xC3\xA1 odpov\xC4\x9B\xC4\x8F",
    "otomatik yan\xC4\xB1t",
    "\xD0\x90\xD0\xB2\xD1\x82\xD0\xBE\xD0\xBE\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82",  // Автоответ
    "\xD0\xB0\xD0\xB2\xD1\x82\xD0\xBE\xD0\xBE\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82",  // автоответ
    "\xE8\x87\xAA\xE5\x8B\x95\xE5\xBF\x9C\xE7\xAD\x94",                          // 自動応答
    "\xE8\x87\xAA\xE5\x8B\x95\xE8\xBF\x94\xE4\xBF\xA1",                          // 自動返信
    "\xE8\x87\xAA\xE5\x8A\xA8\xE5\x9B\x9E\xE5\xA4\x8D",                          // 自动回复
    "\xE8\x87\xAA\xE5\x8B\x95\xE5\x9B\x9E\xE8\xA6\x86",                          // 自動回覆
    "\xEC\x9E\x90\xEB\x8F\x99 \xEC\x9D\x91\xEB\x8B\xB5",                         // 자동 응답
};
// clang-format on

// "Automatic reply: …", "[Out of Office] …", "自動応答：…" — never a subject
// that merely contains such words ("Out of office next week?").
bool IsAutoReplySubject(std::string_view subject) {
  std::string lower = Lower(Trim(subject));
  std::string_view s = lower;
  if (s.starts_with("[")) {
    size_t close = s.find(']');
    if (close != std::string_view::npos) {
      std::string_view inner = Trim(s.substr(1, close - 1));
      for (std::string_view p : kAutoReplySubjects) {
        if (inner == p && p != "auto") return true;
      }
    }
  }
  for (std::string_view p : kAutoReplySubjects) {
    if (!s.starts_with(p)) continue;
    std::string_view rest = Trim(s.substr(p.size()));
    if (rest.empty() ? p != "auto" : (rest.starts_with(":") || rest.starts_with("\xEF\xBC\x9A"))) return true;
  }
  return false;
}

std::optional<std::string> AutoReplySignal(const Message& m) {
  if (const std::string* v = m.Header("Auto-Submitted")) {
    std::string token = Lower(FirstToken(*v));
    if (!token.empty() && token != "no") return "Auto-Submitted: " + token;
  }
  if (const std::string* v = m.Header("Precedence")) {
    std::string token = Lower(FirstToken(*v));
    if (token == "bulk" || token == "junk" || token == "list" || token == "auto_reply")
      return "Precedence: " + token;
  }
  // clang-format off
  static constexpr std::string_view kPresent[] = {
      "X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-MS-Exchange-Inbox-Rules-Loop",
      "X-MS-Exchange-Generated-Message-Source", "X-Apple-Action",
  };
  // clang-format on
  for (std::string_view name : kPresent) {
    const std::string* v = m.Header(name);
    if (v == nullptr) continue;
    std::string token = Lower(FirstToken(*v));
    if (token != "no" && token != "false" && token != "0") return std::string(name) + " header";
  }
  if (IsAutoReplySubject(m.subject)) return "out-of-office subject";
  if (m.return_path && m.return_path->empty()) return "empty Return-Path (null sender)";
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The kinds, one function each.

std::optional<Classification> FromFeedbackReport(const Message& m) {
  Classification c;
  c.kind = MessageKind::kFeedback;
  if (m.report_type == "feedback-report" || !m.feedback_report.empty()) {
    c.why = "feedback report (RFC 5965)";
    c.feedback_type = "abuse";  // RFC 5965's most common type, for reports that omit it
    for (const Field& f : ParseFields(m.feedback_report)) {
      if (!EqualsNoCase(f.name, "feedback-type")) continue;
      c.feedback_type = Lower(FirstToken(f.value));
      break;
    }
    return c;
  }
  // Microsoft's older complaint format (JMRP): the reported message attached,
  // the complainant in its X-HmXmrOriginalRecipient header.
  for (const Field& f : ParseFields(ReturnedHeaders(m))) {
    if (!EqualsNoCase(f.name, "x-hmxmroriginalrecipient")) continue;
    c.why = "complaint report (X-HmXmrOriginalRecipient)";
    c.feedback_type = "abuse";
    return c;
  }
  // Apple Mail's one-click unsubscribe request.
  if (const std::string* v = m.Header("X-Apple-Unsubscribe");
      v != nullptr && EqualsNoCase(Trim(*v), "true")) {
    c.why = "unsubscribe request (X-Apple-Unsubscribe)";
    c.feedback_type = "opt-out";
    return c;
  }
  return std::nullopt;
}

Classification FromDeliveryStatus(const Message& m, std::vector<DsnRecipient> dsn) {
  std::vector<std::string> known;
  for (const DsnRecipient& r : dsn) known.push_back(r.address);
  ReportScan scan = ScanReport(ReportText(m), NotRecipients(m), known);
  Classification c;
  c.kind = MessageKind::kDeliveryNotice;
  c.why = "delivery status notification: delivered";
  for (DsnRecipient& r : dsn) {
    if (IsDeliveredAction(r.action) || (r.action.empty() && r.status.starts_with("2."))) continue;
    c.kind = MessageKind::kBounce;
    c.why = "delivery status notification (RFC 3464)";
    bool seen = std::any_of(c.failed.begin(), c.failed.end(),
                            [&](const FailedRecipient& f) { return f.address == r.address; });
    if (seen) continue;
    Evidence& e = r.evidence;
    e.delayed = r.action == "delayed";
    if (const TextRecipient* t = FindInScan(scan, r.address)) {
      AddReportEvidence(e, t->lines, {});
    } else if (dsn.size() == 1) {
      AddReportEvidence(e, scan.preamble, {});
    }
    if (e.reply_code == 0) e.reply_code = FindReplyCode(e.diagnostic);
    e.status = PreferStatus(r.status, FindStatus(e.diagnostic), e.reply_code);
    c.failed.push_back(MakeFailed(r.address, std::move(e)));
  }
  return c;
}

// A message/delivery-status part: one of the report itself, or, when
// `nested` is allowed, one inside an attached message (a report that a
// mailer daemon wrapped into its own).
std::string_view DeliveryStatusPart(const Message& m, bool nested) {
  std::vector<bool> inside = InsideAttachedMessage(m);
  for (size_t i = 0; i < m.parts.size(); ++i) {
    const MimePart& p = m.parts[i];
    bool dsn =
        p.content_type == "message/delivery-status" || p.content_type == "message/global-delivery-status";
    if (dsn && (nested || !inside[i])) return p.body;
  }
  return {};
}

// Amazon SES notifications: JSON delivered through SNS instead of a DSN.

// The unescaped string value of the first "key": "value" in `json`.
std::optional<std::string> JsonString(std::string_view json, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  size_t i = json.find(quoted);
  if (i == std::string_view::npos) return std::nullopt;
  i += quoted.size();
  while (i < json.size() && (IsSpace(json[i]) || json[i] == ':')) ++i;
  if (i >= json.size() || json[i] != '"') return std::nullopt;
  std::string value;
  for (++i; i < json.size() && json[i] != '"'; ++i) {
    if (json[i] == '\\' && i + 1 < json.size()) ++i;
    value += json[i];
  }
  return value;
}

std::optional<Classification> FromSesNotification(const Message& m) {
  std::string from = m.from ? Lower(m.from->address) : std::string();
  std::string_view body = Trim(CutUtf8(ReportText(m), kMaxReportBytes));
  if (!from.ends_with("amazonaws.com") && !from.ends_with("amazonses.com")) return std::nullopt;
  if (!body.starts_with("{") || !Contains(body, "notificationType")) return std::nullopt;
  // SNS may carry the SES message as an escaped JSON string in "Message".
  std::string json(body);
  if (Contains(body, "\\\"notificationType\\\"")) {
    if (auto inner = JsonString(body, "Message")) json = *inner;
  }
  std::string type = Lower(JsonString(json, "notificationType").value_or(""));
  Classification c;
  if (type == "complaint") {
    c.kind = MessageKind::kFeedback;
    c.why = "Amazon SES complaint notification";
    c.feedback_type = Lower(JsonString(json, "complaintFeedbackType").value_or("abuse"));
    return c;
  }
  if (type == "delivery") {
    c.kind = MessageKind::kDeliveryNotice;
    c.why = "Amazon SES delivery notification";
    return c;
  }
  if (type != "bounce") return std::nullopt;
  c.kind = MessageKind::kBounce;
  c.why = "Amazon SES bounce notification";
  bool transient = Lower(JsonString(json, "bounceType").value_or("")) == "transient";
  constexpr std::string_view kKey = "\"emailAddress\"";
  for (size_t at = json.find(kKey); at != std::string::npos && c.failed.size() < kMaxRecipients;
       at = json.find(kKey, at + 1)) {
    // The recipient's own object: {"emailAddress": …, "status": …, "diagnosticCode": …}.
    size_t open = json.rfind('{', at);
    std::string_view object = std::string_view(json).substr(open == std::string::npos ? at : open);
    object = object.substr(0, object.find('}'));
    Evidence e;
    e.diagnostic = OneLine(JsonString(object, "diagnosticCode").value_or(""));
    size_t semi = e.diagnostic.find(';');
    if (semi != std::string::npos && semi < 12)
      e.diagnostic = OneLine(e.diagnostic.substr(semi + 1));  // "smtp; …"
    e.reply_code = FindReplyCode(e.diagnostic);
    e.status = PreferStatus(FindStatus(JsonString(object, "status").value_or("")), FindStatus(e.diagnostic),
                            e.reply_code);
    if (e.status.empty()) e.status = transient ? "4.0.0" : "5.0.0";
    c.failed.push_back(MakeFailed(Lower(JsonString(object, "emailAddress").value_or("")), std::move(e)));
  }
  return c;
}

// clang-format off
constexpr std::string_view kBounceSubjects[] = {
    "undelivered mail", "undeliverable", "undelivered", "delivery status notification", "delivery failure",
    "delivery failed", "failure notice", "mail delivery failed", "returned mail", "mail delivery failure",
    "delivery has failed", "delivery notification", "message not delivered", "non remis", "unzustellbar",
    "nondeliverable", "non-deliverable", "could not send message", "mail system error", "returned to sender",
    "delivery problem", "rejected:", "mail error", "message delivery failure", "warning: could not send",
    "delayed mail", "delivery delayed", "delivery status", "not delivered", "mail could not be delivered",
    "\xE9\x85\x8D\xE4\xBF\xA1", "\xE3\x82\xA8\xE3\x83\xA9\xE3\x83\xBC",  // 配信, エラー
};
// clang-format on

// clang-format off
constexpr std::string_view kReportText[] = {
    "this is the qmail-send program", "this message was created automatically by mail delivery software",
    "the following addresses had permanent fatal errors", "this is the mail system at host",
    "delivery to the following recipient", "delivery has failed to these recipients",
    "did not reach some or all of the intended recipients", "could not be delivered to",
    "i'm afraid i wasn't able to deliver", "was not delivered to", "unable to deliver",
    "there was an error delivering your mail", "your message could not be delivered",
    "message could not be delivered", "delivery failed", "permanent error", "permanent fatal error",
    "transcript of session follows", "the following recipient", "undeliverable", "non-delivery",
    "could not deliver", "delivery to the following", "failed permanently", "error delivering",
    "following address", "the following message", "was undeliverable", "rejected your message",
    "returned to sender", "delivery has failed", "not be delivered", "couldn't be delivered",
};
// clang-format on

bool IsForwardOrReply(std::string_view subject) {
  std::string lower = Lower(Trim(subject));
  return lower.starts_with("re:") || lower.starts_with("fw:") || lower.starts_with("fwd:");
}

// A non-delivery report in words. Someone forwarding a bounce ("Fwd:
// Undelivered Mail") is a person asking for help: only a machine sender, or
// report wording together with a report subject or a null sender, counts.
std::optional<Classification> FromFreeText(const Message& m, bool machine_sender, const std::string& from) {
  bool report_subject = !IsForwardOrReply(m.subject) && MatchesAny(Lower(m.subject), kBounceSubjects);
  bool report_text = MatchesAny(Lower(CutUtf8(ReportText(m), 4000)), kReportText);
  bool null_sender = m.return_path && m.return_path->empty();
  if (!machine_sender && !((report_text || null_sender) && report_subject) && !(report_text && null_sender)) {
    return std::nullopt;
  }

  std::vector<std::string> known;  // Exim, Gmail and others list them in a header
  for (std::string_view v : m.Headers("X-Failed-Recipients")) {
    for (const FoundAddress& a : FindAddresses(v)) {
      if (!IsIn(known, a.address) && known.size() < kMaxRecipients) known.push_back(a.address);
    }
  }
  if (known.empty()) {
    // Some reports paste RFC 3464 fields into the text.
    auto dsn = ParseDeliveryStatus(CutUtf8(ReportText(m), kMaxReportBytes));
    if (!dsn.empty()) return FromDeliveryStatus(m, std::move(dsn));
  }

  ReportScan scan = ScanReport(ReportText(m), NotRecipients(m), known);
  std::vector<std::string> addresses = known;
  for (const TextRecipient& r : scan.recipients) {
    if (known.empty()) addresses.push_back(r.address);
  }
  if (addresses.empty()) addresses = ReturnedRecipients(m);
  if (addresses.empty() && !machine_sender && !report_text) return std::nullopt;

  Classification c;
  c.kind = MessageKind::kBounce;
  c.why = machine_sender ? "non-delivery report from " + (from.empty() ? std::string("<>") : from)
                         : "non-delivery report text";
  std::string preamble = JoinLower(scan.preamble);
  for (const std::string& address : addresses) {
    Evidence e;
    if (const TextRecipient* t = FindInScan(scan, address)) {
      AddReportEvidence(e, t->lines, addresses.size() == 1 ? std::string_view(preamble) : std::string_view());
    } else {
      AddReportEvidence(e, scan.preamble, {});
    }
    if (e.status.empty() && e.reply_code == 0 && Contains(preamble, "permanent")) e.status = "5.0.0";
    c.failed.push_back(MakeFailed(address, std::move(e)));
  }
  return c;
}

// The classifier cuts only at character boundaries, but some of what it
// reads is raw bytes (an attached message, returned headers) that nobody
// decoded: its outputs are made valid UTF-8 here so that every consumer
// (JSON, PostgreSQL text columns) can trust them.
void MakeValidUtf8(std::string& text) {
  if (!IsValidUtf8(text)) text = SanitizeUtf8(text);
}

Classification ValidUtf8(Classification c) {
  MakeValidUtf8(c.why);
  MakeValidUtf8(c.feedback_type);
  for (FailedRecipient& f : c.failed) {
    MakeValidUtf8(f.address);
    MakeValidUtf8(f.status);
    MakeValidUtf8(f.reason);
    MakeValidUtf8(f.diagnostic);
  }
  return c;
}

Classification ClassifyAnyText(const Message& m);

}  // namespace

std::string_view MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kNormal:
      return "normal";
    case MessageKind::kAutoReply:
      return "auto_reply";
    case MessageKind::kBounce:
      return "bounce";
    case MessageKind::kFeedback:
      return "feedback";
    case MessageKind::kDeliveryNotice:
      return "delivery_notice";
  }
  return "normal";
}

Classification Classify(const Message& m) { return ValidUtf8(ClassifyAnyText(m)); }

namespace {

Classification ClassifyAnyText(const Message& m) {
  if (auto feedback = FromFeedbackReport(m)) return *std::move(feedback);
  if (auto ses = FromSesNotification(m)) return *std::move(ses);

  std::string from = m.from ? Lower(m.from->address) : std::string();
  bool machine_sender = (m.from && (from.empty() || from == "<>" || IsMachineLocalPart(from))) ||
                        m.Header("X-Failed-Recipients") != nullptr;

  std::string_view status = m.delivery_status;
  if (status.empty()) status = DeliveryStatusPart(m, /*nested=*/machine_sender);
  if (!status.empty()) {
    auto dsn = ParseDeliveryStatus(status);
    if (!dsn.empty()) return FromDeliveryStatus(m, std::move(dsn));
  }
  if (m.report_type == "disposition-notification") {
    Classification c;
    c.kind = MessageKind::kDeliveryNotice;
    c.why = "disposition notification (RFC 8098)";
    return c;
  }
  if (auto bounce = FromFreeText(m, machine_sender, from)) return *std::move(bounce);

  Classification c;
  if (auto signal = AutoReplySignal(m)) {
    c.kind = MessageKind::kAutoReply;
    c.why = *std::move(signal);
  } else {
    c.why = "no machine-mail signal";
  }
  return c;
}

}  // namespace
}  // namespace mail

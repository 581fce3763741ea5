#include "mail/composer.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <exception>
#include <initializer_list>
#include <vmime/body.hpp>
#include <vmime/bodyPart.hpp>
#include <vmime/charset.hpp>
#include <vmime/constants.hpp>
#include <vmime/contentTypeField.hpp>
#include <vmime/encoding.hpp>
#include <vmime/exception.hpp>
#include <vmime/generationContext.hpp>
#include <vmime/header.hpp>
#include <vmime/mediaType.hpp>
#include <vmime/stringContentHandler.hpp>
#include <vmime/utility/outputStreamStringAdapter.hpp>

#include "mail/charset.h"
#include "mail/reply_token.h"
#include "mail/sha256.h"

namespace mail {
namespace {

using base::ErrorKind;
using base::MakeError;

constexpr size_t kFoldAt = 78;           // RFC 5322 §2.1.1: lines SHOULD stay within 78 characters.
constexpr size_t kMaxTokenLength = 900;  // one URI or id, so that its line stays under 998
constexpr size_t kMaxDisplayName = 200;  // bytes of a display name (an unfolded quoted one fits a line)
// Characters of the subject of an acknowledgement or rejection notice: it
// echoes text a stranger wrote to an address the stranger chose.
constexpr size_t kMaxNoticeSubject = 120;
constexpr size_t kMaxReferences = 20;    // the root and the last 19
constexpr std::string_view kVerpPlaceholder = "{id}";
constexpr std::string_view kVerpContext = "mailforum verp v1";
constexpr size_t kVerpMacBytes = 10;  // 80 bits, 16 base32 characters
constexpr std::string_view kSpace = " \t\r\n";

base::Error Invalid(std::string_view field, std::string_view why) {
  return MakeError(ErrorKind::kInvalidInput, "composer: " + std::string(field) + ": " + std::string(why));
}

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// --- Texts from callers ---------------------------------------------------

// A header text: valid UTF-8, control characters (CR and LF among them, so
// no header can be injected) as spaces, trimmed.
std::string CleanHeaderText(std::string_view text) {
  std::string out = SanitizeUtf8(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return std::string(Trim(out));
}

// Whether the code point starting at `p` (valid UTF-8) is a C1 control
// (U+0080-U+009F) or a bidirectional embedding, override or isolate
// (U+202A-U+202E, U+2066-U+2069), which can disguise what a text says.
bool IsHiddenControl(std::string_view s, size_t p) {
  const auto b = [&](size_t i) { return p + i < s.size() ? static_cast<unsigned char>(s[p + i]) : 0; };
  if (b(0) == 0xc2 && b(1) >= 0x80 && b(1) <= 0x9f) return true;
  if (b(0) == 0xe2 && b(1) == 0x80 && b(2) >= 0xaa && b(2) <= 0xae) return true;
  return b(0) == 0xe2 && b(1) == 0x81 && b(2) >= 0xa6 && b(2) <= 0xa9;
}

// The subject of an acknowledgement or rejection notice: a header text
// without C1 controls or bidirectional overrides, at most kMaxNoticeSubject
// characters (cut at a character boundary, "…" marking the cut).
std::string NoticeSubject(std::string_view text) {
  const std::string clean = CleanHeaderText(text);
  std::string out;
  size_t characters = 0;
  for (size_t i = 0; i < clean.size();) {
    size_t length = 1;
    while (i + length < clean.size() && (static_cast<unsigned char>(clean[i + length]) & 0xc0) == 0x80) {
      ++length;
    }
    if (!IsHiddenControl(clean, i)) {
      if (characters == kMaxNoticeSubject) {
        // One character too many: cut to leave room for the ellipsis.
        out = std::string(Trim(CutUtf8(out, out.size() - 1))) + "\xe2\x80\xa6";  // …
        break;
      }
      out.append(clean, i, length);
      ++characters;
    }
    i += length;
  }
  return std::string(Trim(out));
}

// A display name: a header text of at most kMaxDisplayName bytes, cut at a
// character boundary.
std::string CleanDisplayName(std::string_view text) {
  std::string out = CleanHeaderText(text);
  if (out.size() > kMaxDisplayName) {
    size_t cut = kMaxDisplayName;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out = std::string(Trim(out.substr(0, cut)));
  }
  return out;
}

// A body text: valid UTF-8, LF line ends, no control characters other than
// tab and LF, no trailing blank lines.
std::string CleanBodyText(std::string_view text) {
  const std::string valid = SanitizeUtf8(text);
  std::string out;
  out.reserve(valid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    const char c = valid[i];
    if (c == '\r') {
      if (i + 1 < valid.size() && valid[i + 1] == '\n') ++i;
      out += '\n';
    } else if (c == '\n' || c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)) {
      out += c;
    }
  }
  const size_t end = out.find_last_not_of(kSpace);
  out.resize(end == std::string::npos ? 0 : end + 1);
  return out;
}

// --- Addresses, ids and URIs ----------------------------------------------

struct Mailbox {
  std::string name;     // display name, UTF-8; may be empty
  std::string address;  // local@domain, ASCII
};

bool IsAtext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// A dot-atom local part and a host name: what we can write without quoting.
bool IsPlainAddress(std::string_view address) {
  const size_t at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() || address.size() > 254)
    return false;
  for (char c : address.substr(0, at)) {
    if (!IsAtext(c) && c != '.') return false;
  }
  for (char c : address.substr(at + 1)) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

// "Name <local@domain>", "\"Name, Quoted\" <local@domain>", "<local@domain>" or "local@domain".
base::Result<Mailbox> ParseMailbox(std::string_view field, std::string_view text) {
  text = Trim(text);
  if (text.empty()) return Invalid(field, "missing");
  Mailbox mailbox;
  std::string_view address = text;
  const size_t open = text.rfind('<');
  if (text.back() == '>' && open != std::string_view::npos) {
    address = text.substr(open + 1, text.size() - open - 2);
    std::string_view name = Trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      std::string unquoted;
      for (size_t i = 1; i + 1 < name.size(); ++i) {
        if (name[i] == '\\' && i + 2 < name.size()) ++i;
        unquoted += name[i];
      }
      mailbox.name = CleanDisplayName(unquoted);
    } else {
      mailbox.name = CleanDisplayName(name);
    }
  }
  if (!IsPlainAddress(address))
    return Invalid(field, "not a plain ASCII address: \"" + CleanHeaderText(text) + "\"");
  mailbox.address = std::string(address);
  return mailbox;
}

// An id we can write as "<id>": printable ASCII without angle brackets.
bool IsWritableId(std::string_view id) {
  if (id.empty() || id.size() > kMaxTokenLength) return false;
  for (char c : id) {
    if (c <= ' ' || c >= 0x7f || c == '<' || c == '>') return false;
  }
  return true;
}

// A URI we can write in a header ("<uri>") and an HTML attribute, with one of `schemes`.
bool IsWritableUri(std::string_view uri, std::initializer_list<std::string_view> schemes) {
  if (uri.empty() || uri.size() > kMaxTokenLength) return false;
  for (char c : uri) {
    if (c <= ' ' || c >= 0x7f || std::string_view("<>\"'\\`").find(c) != std::string_view::npos) return false;
  }
  for (std::string_view scheme : schemes) {
    if (StartsWithIgnoreCase(uri, scheme) && uri.size() > scheme.size()) return true;
  }
  return false;
}

// A dot-atom such as "acme-help.example.com" (RFC 2919 list-id).
bool IsDotAtom(std::string_view text) {
  if (text.empty() || text.size() > kMaxTokenLength || text.front() == '.' || text.back() == '.')
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.' ? text[i + 1] == '.' : !IsAtext(text[i])) return false;
  }
  return true;
}

// --- Header fields ----------------------------------------------------------

// Header text in wire form, and the column at which its last line ends.
struct Folded {
  std::string text;
  size_t end = 0;
};

// Printable ASCII `text` folded at its spaces for a line that already holds
// `column` characters, or nullopt when a word is too long for any line.
std::optional<Folded> FoldAscii(std::string_view text, size_t column) {
  Folded out{"", column};
  size_t i = 0;
  while (i < text.size()) {
    size_t word = text.find_first_not_of(' ', i);
    if (word == std::string_view::npos) word = text.size();
    size_t end = text.find(' ', word);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view segment = text.substr(i, end - i);  // the spaces before a word, and the word
    if (out.end + segment.size() > kFoldAt && word > i) {
      out.text += "\r\n";  // the spaces start the continuation line
      out.end = 0;
    }
    out.text += segment;
    out.end += segment.size();
    if (out.end > kFoldAt) return std::nullopt;
    i = end;
  }
  return out;
}

// UTF-8 `text` as RFC 2047 "Q" encoded words, the first starting at
// `column`, each further one on a continuation line of its own; no line
// exceeds kFoldAt, no word 75 characters, and no character is split between
// two words. Only letters, digits and "!*+-/" stay literal: the set that RFC
// 2047 §5(3) allows in a phrase, so the words serve display names and
// unstructured text alike.
Folded EncodedWords(std::string_view text, size_t column) {
  constexpr std::string_view kOpen = "=?utf-8?Q?";
  constexpr std::string_view kClose = "?=";
  constexpr size_t kMaxWord = 75;
  const auto literal = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!*+-/").find(c) != std::string_view::npos;
  };
  Folded out{"", column};
  std::string word;
  const auto flush = [&] {
    if (!out.text.empty()) {
      out.text += "\r\n ";
      out.end = 1;
    }
    out.text.append(kOpen).append(word).append(kClose);
    out.end += kOpen.size() + word.size() + kClose.size();
    word.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    const size_t length = std::min(text.size() - i, lead < 0xc0   ? size_t{1}
                                                    : lead < 0xe0 ? 2
                                                    : lead < 0xf0 ? 3
                                                                  : 4);
    std::string encoded;
    for (char c : text.substr(i, length)) {
      if (literal(c)) {
        encoded += c;
      } else if (c == ' ') {
        encoded += '_';
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        const unsigned char byte = static_cast<unsigned char>(c);
        encoded.append({'=', kHex[byte >> 4], kHex[byte & 15]});
      }
    }
    const size_t room = std::min(kMaxWord, kFoldAt - (out.text.empty() ? column : 1));
    if (!word.empty() && kOpen.size() + word.size() + encoded.size() + kClose.size() > room) flush();
    word += encoded;
    i += length;
  }
  if (!word.empty() || out.text.empty()) flush();
  return out;
}

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c < 0x7f; });
}

// Unstructured text (RFC 5322 §3.2.5) such as a Subject: as it is when it is
// ASCII that folds, encoded words otherwise ("=?" included, which a reader
// would take for the start of one).
Folded Unstructured(std::string_view text, size_t column) {
  if (IsPrintableAscii(text) && text.find("=?") == std::string_view::npos) {
    if (std::optional<Folded> folded = FoldAscii(text, column)) return *std::move(folded);
  }
  return EncodedWords(text, column);
}

// The RFC 5322 phrase for a display name: as it is when it is atoms, a quoted
// string when it is other ASCII that fits the line, encoded words otherwise.
// (vmime would quote too, but without escaping backslashes.)
Folded Phrase(std::string_view name, size_t column) {
  if (!IsPrintableAscii(name) || name.find("=?") != std::string_view::npos) return EncodedWords(name, column);
  if (std::all_of(name.begin(), name.end(), [](char c) { return IsAtext(c) || c == ' '; })) {
    if (std::optional<Folded> folded = FoldAscii(name, column)) return *std::move(folded);
    return EncodedWords(name, column);
  }
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  if (column + quoted.size() > kFoldAt) return EncodedWords(name, column);
  return Folded{quoted, column + quoted.size()};
}

// The header block, written field by field, folded at kFoldAt where a field allows it.
class HeaderBlock {
 public:
  // `value` is already in wire form (ASCII, folded with CRLF SP if at all).
  void Add(std::string_view name, std::string_view value) {
    out_.append(name).append(value.empty() ? ":" : ": ").append(value).append("\r\n");
  }

  // Unstructured text (Subject), UTF-8.
  void AddText(std::string_view name, std::string_view utf8) {
    Add(name, Unstructured(utf8, name.size() + 2).text);
  }

  // "Display Name <value>", or "<value>" when the name is empty.
  void AddNamed(std::string_view name, std::string_view display, std::string_view value) {
    if (display.empty()) {
      Add(name, "<" + std::string(value) + ">");
      return;
    }
    Folded out = Phrase(display, name.size() + 2);
    out.text += out.end + value.size() + 3 > kFoldAt ? "\r\n <" : " <";
    out.text.append(value).append(">");
    Add(name, out.text);
  }

  // Items such as "<id>", separated by `separator` (" " or ", "), folded between items.
  void AddList(std::string_view name, const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    size_t line = name.size() + 2;
    for (const std::string& item : items) {
      if (!out.empty()) {
        const std::string_view mark = Trim(separator);  // "," of ", "; nothing of " "
        if (line + separator.size() + item.size() > kFoldAt) {
          out.append(mark).append("\r\n ");
          line = 1;
        } else {
          out.append(separator);
          line += separator.size();
        }
      }
      out += item;
      line += item.size();
    }
    Add(name, out);
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Bracketed(std::string_view id) { return "<" + std::string(id) + ">"; }

// RFC 5322 date-time in UTC: "Tue, 05 Mar 2024 14:07:09 +0000".
std::string FormatDate(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto second = floor<seconds>(when);
  const auto day = floor<days>(second);
  const year_month_day date(day);
  const hh_mm_ss time(second - day);
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02u %s %04d %02d:%02d:%02d +0000", kDays[weekday(day).c_encoding()],
                static_cast<unsigned>(date.day()), kMonths[static_cast<unsigned>(date.month()) - 1],
                static_cast<int>(date.year()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  return out;
}

// --- Bodies -----------------------------------------------------------------

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One line of caller text as HTML: escaped, with runs of spaces and leading
// spaces and tabs kept visible (indented code, ASCII tables).
std::string HtmlLine(std::string_view line) {
  std::string out;
  bool after_space = true;  // a space at the start of a line would collapse too
  for (char c : HtmlEscape(line)) {
    if (c == '\t') {
      out += "&nbsp;&nbsp;&nbsp;&nbsp;";
      after_space = true;
    } else if (c == ' ') {
      out += after_space ? "&nbsp;" : " ";
      after_space = true;
    } else {
      out += c;
      after_space = false;
    }
  }
  return out;
}

// The two alternatives, built together from the same pieces so that they say
// the same thing. Plain text uses LF until Finish().
class Bodies {
 public:
  // A paragraph of cleaned text; its line breaks are kept.
  void Paragraph(std::string_view text) {
    Separate();
    text_.append(text);
    html_ += "<p>";
    size_t begin = 0;
    while (true) {
      const size_t end = text.find('\n', begin);
      html_ += HtmlLine(text.substr(begin, end == std::string_view::npos ? end : end - begin));
      if (end == std::string_view::npos) break;
      html_ += "<br>\n";
      begin = end + 1;
    }
    html_ += "</p>\n";
  }

  // "label URL" as a line of its own (HTML: label and a link).
  void Link(std::string_view label, std::string_view url) {
    Separate();
    text_.append(label).append(" ").append(url);
    html_ +=
        "<p>" + HtmlEscape(label) + " <a href=\"" + HtmlEscape(url) + "\">" + HtmlEscape(url) + "</a></p>\n";
  }

  // The signature separator ("-- "), then `lines` and "url_label: url" (HTML:
  // a link labelled url_label). Mail clients leave what follows "-- " out of
  // quotes, and the reply trimmer drops it.
  void Footer(const std::vector<std::string>& lines, std::string_view url_label, std::string_view url) {
    Separate();
    text_ += "-- ";
    html_ += "<hr>\n<p style=\"color:#666666\">";
    for (size_t i = 0; i < lines.size(); ++i) {
      text_ += "\n" + lines[i];
      html_ += (i == 0 ? "" : "<br>\n") + HtmlEscape(lines[i]);
    }
    if (!url.empty()) {
      text_.append("\n").append(url_label).append(": ").append(url);
      html_ += "<br>\n<a href=\"" + HtmlEscape(url) + "\">" + HtmlEscape(url_label) + "</a>";
    }
    html_ += "</p>\n";
  }

  std::string Text() const { return Crlf(text_ + "\n"); }
  std::string Html() const {
    return Crlf(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; "
        "charset=utf-8\">\n</head>\n<body>\n" +
        html_ + "</body>\n</html>\n");
  }

 private:
  void Separate() {
    if (!text_.empty()) text_ += "\n\n";
  }
  static std::string Crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (char c : text) {
      if (c == '\n') out += '\r';
      out += c;
    }
    return out;
  }

  std::string text_;
  std::string html_;
};

// `text` (lines ending with CRLF) in quoted-printable (RFC 2045 §6.7): lines
// of at most 76 characters, soft breaks never inside an escape, trailing
// white space escaped. Ours, because vmime 0.9.2's encoder puts the soft
// break of a line that ends at its limit between the CR and the LF, which
// generates a bare CR and a bare LF.
std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr size_t kMaxLine = 76;
  std::string out;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find("\r\n", begin);
    const bool line_break = end != std::string_view::npos;
    if (!line_break) end = text.size();
    size_t column = 0;
    for (size_t i = begin; i < end; ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      const bool last = i + 1 == end;
      const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
      const size_t width = literal ? 1 : 3;
      // Room for the '=' of a soft break, except after the last character of the line.
      if (column + width > (last ? kMaxLine : kMaxLine - 1)) {
        out += "=\r\n";
        column = 0;
      }
      if (literal) {
        out += static_cast<char>(c);
      } else {
        out += {'=', kHex[c >> 4], kHex[c & 15]};
      }
      column += width;
    }
    if (line_break) out += "\r\n";
    begin = line_break ? end + 2 : end;
  }
  return out;
}

// The multipart/alternative part (its Content-Type header, a blank line and
// the body), generated by vmime with quoted-printable parts (encoded by
// QuotedPrintable()); throws what vmime throws. The boundary contains "=_",
// which quoted-printable text can never contain, and follows from the
// Message-ID, so retries give the same bytes.
std::string MimeBody(const Bodies& bodies, const std::string& message_id) {
  vmime::bodyPart root;
  auto content_type = root.getHeader()->getField<vmime::contentTypeField>(vmime::fields::CONTENT_TYPE);
  content_type->setValue(
      vmime::mediaType(vmime::mediaTypes::MULTIPART, vmime::mediaTypes::MULTIPART_ALTERNATIVE));
  // Set before the parts are added, so that vmime's unlocked random generator is never called.
  content_type->setBoundary("=_mf_" + Sha256Hex(message_id).substr(0, 16));  // short enough for one line
  for (const auto& [subtype, content] : {std::pair{vmime::mediaTypes::TEXT_PLAIN, bodies.Text()},
                                         std::pair{vmime::mediaTypes::TEXT_HTML, bodies.Html()}}) {
    auto part = vmime::make_shared<vmime::bodyPart>();
    const vmime::encoding quoted_printable(vmime::encodingTypes::QUOTED_PRINTABLE);
    // Content already encoded in the part's encoding is written as it is.
    part->getBody()->setContents(
        vmime::make_shared<vmime::stringContentHandler>(QuotedPrintable(content), quoted_printable),
        vmime::mediaType(vmime::mediaTypes::TEXT, subtype), vmime::charset(vmime::charsets::UTF_8),
        quoted_printable);
    root.getBody()->appendPart(part);
  }
  // A context of our own: vmime's default one is a process-wide static (TESTENV vmime pitfall 5).
  vmime::generationContext context;
  context.setInternationalizedEmailSupport(false);
  context.setMaxLineLength(kFoldAt);
  context.setPrologText("");
  context.setEpilogText("");
  std::string out;
  vmime::utility::outputStreamStringAdapter stream(out);
  root.generate(context, stream);
  return out;
}

// What the contract promises about the bytes; a failure is a bug here.
base::Status CheckWire(std::string_view raw) {
  size_t line_start = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == 0 || c >= 0x80) return MakeError(ErrorKind::kInternal, "composer: 8-bit or NUL byte generated");
    if (c == '\r' && (i + 1 == raw.size() || raw[i + 1] != '\n')) {
      return MakeError(ErrorKind::kInternal, "composer: bare CR generated");
    }
    if (c == '\n') {
      if (i == 0 || raw[i - 1] != '\r') return MakeError(ErrorKind::kInternal, "composer: bare LF generated");
      if (i - 1 - line_start > 998) return MakeError(ErrorKind::kInternal, "composer: line over 998 bytes");
      line_start = i + 1;
    }
  }
  if (line_start != raw.size()) return MakeError(ErrorKind::kInternal, "composer: unterminated last line");
  return {};
}

// --- The kinds --------------------------------------------------------------

std::string_view AutoSubmitted(OutboundKind kind) {
  return kind == OutboundKind::kAcknowledgement || kind == OutboundKind::kRejection ? "auto-replied"
                                                                                    : "auto-generated";
}

std::string_view Precedence(OutboundKind kind) {
  return kind == OutboundKind::kAcknowledgement || kind == OutboundKind::kRejection ? "bulk" : "list";
}

Bodies MakeBodies(const OutboundMail& mail, std::string_view instance, std::string_view thread_url) {
  Bodies bodies;
  switch (mail.kind) {
    case OutboundKind::kAnswer:
    case OutboundKind::kNotification: {
      const std::string body = CleanBodyText(mail.body_text);
      if (!body.empty()) bodies.Paragraph(body);
      bodies.Footer({"Reply to this email to answer."}, "View the thread", thread_url);
      break;
    }
    case OutboundKind::kAcknowledgement:
      bodies.Paragraph("Thank you: " + std::string(instance) + " received your message.");
      if (thread_url.empty()) {
        bodies.Paragraph("It is now a thread.");
      } else {
        bodies.Link("It is now a thread:", thread_url);
      }
      bodies.Paragraph(
          "You will get the answers by email, as replies to your message.\n"
          "To add something, reply to this email.");
      break;
    case OutboundKind::kRejection: {
      // Nothing of the rejected message: not its text, not its subject.
      std::string reason = CleanBodyText(mail.rejection_reason);
      if (reason.empty()) reason = "It does not meet the rules of this address.";
      bodies.Paragraph("Your message to " + std::string(instance) + " was not accepted.");
      bodies.Paragraph("Reason: " + reason);
      bodies.Paragraph("This notice was sent automatically.");
      break;
    }
  }
  return bodies;
}

// The References ids to write, bracketed (see OutboundMail::references).
std::vector<std::string> ReferenceChain(const OutboundMail& mail) {
  std::vector<std::string> chain;
  for (const std::string& id : mail.references) {
    if (IsWritableId(id) && std::find(chain.begin(), chain.end(), id) == chain.end()) chain.push_back(id);
  }
  if (IsWritableId(mail.in_reply_to) &&
      std::find(chain.begin(), chain.end(), mail.in_reply_to) == chain.end()) {
    chain.push_back(mail.in_reply_to);
  }
  if (chain.size() > kMaxReferences) {
    chain.erase(chain.begin() + 1, chain.end() - static_cast<std::ptrdiff_t>(kMaxReferences - 1));
  }
  for (std::string& id : chain) id = Bracketed(id);
  return chain;
}

// The URIs of `field` (separated by commas or white space, angle brackets optional), each as "<uri>".
base::Result<std::vector<std::string>> UriList(std::string_view field, std::string_view text,
                                               std::initializer_list<std::string_view> schemes) {
  std::vector<std::string> uris;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find_first_of(", \t\r\n", begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view uri = text.substr(begin, end - begin);
    if (uri.size() >= 2 && uri.front() == '<' && uri.back() == '>') uri = uri.substr(1, uri.size() - 2);
    if (!uri.empty()) {
      if (!IsWritableUri(uri, schemes))
        return Invalid(field, "not a usable URI: \"" + CleanHeaderText(uri) + "\"");
      uris.push_back(Bracketed(uri));
    }
    begin = end + 1;
  }
  return uris;
}

// The fields of an OutboundMail that must be well-formed, parsed.
struct Checked {
  Mailbox from;
  Mailbox to;
  std::optional<Mailbox> reply_to;
  std::string thread_url;
  std::string list_id;
  std::vector<std::string> archive;      // "<uri>"
  std::vector<std::string> unsubscribe;  // "<uri>"
};

base::Result<Checked> Check(const OutboundMail& mail) {
  if (!IsWritableId(mail.message_id) || mail.message_id.find('@') == std::string::npos) {
    return Invalid("message_id", "not an id of the form left@right in printable ASCII");
  }
  Checked checked;
  base::Result<Mailbox> from = ParseMailbox("from", mail.from);
  if (!from.ok()) return from.error();
  checked.from = std::move(from).value();
  base::Result<Mailbox> to = ParseMailbox("to", mail.to);
  if (!to.ok()) return to.error();
  checked.to = std::move(to).value();
  if (!Trim(mail.reply_to).empty()) {
    base::Result<Mailbox> reply_to = ParseMailbox("reply_to", mail.reply_to);
    if (!reply_to.ok()) return reply_to.error();
    checked.reply_to = std::move(reply_to).value();
  }
  checked.thread_url = Trim(mail.thread_url);
  if (!checked.thread_url.empty() && !IsWritableUri(checked.thread_url, {"https:", "http:"})) {
    return Invalid("thread_url", "not an http(s) URL without spaces, quotes or angle brackets");
  }
  checked.list_id = Trim(mail.list_id);
  if (!checked.list_id.empty() && !IsDotAtom(checked.list_id)) {
    return Invalid("list_id", "not a dot-atom such as list.example.com");
  }
  base::Result<std::vector<std::string>> archive =
      UriList("list_archive_url", mail.list_archive_url, {"https:", "http:"});
  if (!archive.ok()) return archive.error();
  checked.archive = std::move(archive).value();
  base::Result<std::vector<std::string>> unsubscribe =
      UriList("unsubscribe_url", mail.unsubscribe_url, {"https:", "http:", "mailto:"});
  if (!unsubscribe.ok()) return unsubscribe.error();
  checked.unsubscribe = std::move(unsubscribe).value();
  return checked;
}

// The whole message; throws what vmime throws.
std::string Render(const OutboundMail& mail, const Checked& checked) {
  std::string instance = CleanDisplayName(mail.instance_name);
  if (instance.empty()) instance = checked.from.name.empty() ? checked.from.address : checked.from.name;
  std::string from_display = checked.from.name;
  if (mail.kind == OutboundKind::kAnswer || mail.kind == OutboundKind::kNotification) {
    const std::string author = CleanDisplayName(mail.author_name);
    if (!author.empty()) from_display = CleanDisplayName(author + " via " + instance);
    if (from_display.empty()) from_display = instance;
  }

  HeaderBlock header;
  header.Add("Date", FormatDate(mail.date));
  header.AddNamed("From", from_display, checked.from.address);
  if (checked.reply_to) header.AddNamed("Reply-To", checked.reply_to->name, checked.reply_to->address);
  header.AddNamed("To", checked.to.name, checked.to.address);
  const bool notice = mail.kind == OutboundKind::kAcknowledgement || mail.kind == OutboundKind::kRejection;
  header.AddText("Subject", notice ? NoticeSubject(mail.subject) : CleanHeaderText(mail.subject));
  header.Add("Message-ID", Bracketed(mail.message_id));
  if (IsWritableId(mail.in_reply_to)) header.Add("In-Reply-To", Bracketed(mail.in_reply_to));
  if (const std::vector<std::string> chain = ReferenceChain(mail); !chain.empty()) {
    header.AddList("References", chain, " ");
  }
  header.Add("Auto-Submitted", AutoSubmitted(mail.kind));
  header.Add("X-Auto-Response-Suppress", "All");
  header.Add("Precedence", Precedence(mail.kind));
  if (!checked.list_id.empty()) header.AddNamed("List-Id", instance, checked.list_id);
  if (!checked.archive.empty()) header.AddList("List-Archive", checked.archive, ", ");
  if (!checked.unsubscribe.empty()) {
    header.AddList("List-Unsubscribe", checked.unsubscribe, ", ");
    const bool one_click =
        std::any_of(checked.unsubscribe.begin(), checked.unsubscribe.end(),
                    [](const std::string& uri) { return StartsWithIgnoreCase(uri, "<https:"); });
    if (one_click) header.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
  }
  header.Add("MIME-Version", "1.0");

  std::string raw = header.Take() + MimeBody(MakeBodies(mail, instance, checked.thread_url), mail.message_id);
  if (raw.compare(raw.size() - 2, 2, "\r\n") != 0) raw += "\r\n";
  return raw;
}

// The length of the reply prefix ("Re: ", "AW:", "Re[2] :") at the start of
// `subject`, colon included, or 0 when there is none.
size_t ReplyPrefixLength(std::string_view subject) {
  // Lower case as StartsWithIgnoreCase compares (ASCII letters folded only).
  static constexpr std::array<std::string_view, 12> kPrefixes = {
      "re",
      "aw",
      "sv",
      "antw",
      "odp",
      "ynt",
      "r\xc3\xa9"
      "f",
      "r\xc3\x89"
      "f",
      "rif",
      "\xe5\x9b\x9e\xe5\xa4\x8d",
      "\xe5\x9b\x9e\xe8\xa6\x86",
      "\xe7\xad\x94\xe5\xa4\x8d"};  // 回复 回覆 答复
  const auto digits_end = [&](size_t from) {
    while (from < subject.size() && subject[from] >= '0' && subject[from] <= '9') ++from;
    return from;
  };
  for (std::string_view prefix : kPrefixes) {
    if (!StartsWithIgnoreCase(subject, prefix)) continue;
    size_t i = prefix.size();
    if (i < subject.size() && (subject[i] == '[' || subject[i] == '(')) {
      const char close = subject[i] == '[' ? ']' : ')';
      const size_t end = digits_end(i + 1);
      if (end == i + 1 || end >= subject.size() || subject[end] != close) continue;
      i = end + 1;
    } else if (i < subject.size() && subject[i] == '^') {
      const size_t end = digits_end(i + 1);
      if (end == i + 1) continue;
      i = end;
    }
    while (i < subject.size() && (subject[i] == ' ' || subject[i] == '\t')) ++i;
    if (subject.substr(i).starts_with(":")) return i + 1;
    if (subject.substr(i).starts_with("\xef\xbc\x9a")) return i + 3;  // full-width colon
  }
  return 0;
}

}  // namespace

std::string_view OutboundKindName(OutboundKind kind) {
  switch (kind) {
    case OutboundKind::kAnswer:
      return "answer";
    case OutboundKind::kNotification:
      return "notification";
    case OutboundKind::kAcknowledgement:
      return "acknowledgement";
    case OutboundKind::kRejection:
      return "rejection";
  }
  return "unknown";
}

base::Result<std::string> ComposeMessage(const OutboundMail& mail) {
  base::Result<Checked> checked = Check(mail);
  if (!checked.ok()) return checked.error();
  std::string raw;
  try {
    raw = Render(mail, *checked);
  } catch (const vmime::exception& e) {
    return MakeError(ErrorKind::kInternal, "composer: vmime: " + std::string(e.what()));
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kInternal, "composer: " + std::string(e.what()));
  }
  if (base::Status wire = CheckWire(raw); !wire.ok()) return wire.error();
  return raw;
}

base::Result<Envelope> ComposeEnvelope(const OutboundMail& mail) {
  base::Result<Mailbox> return_path = ParseMailbox("return_path", mail.return_path);
  if (!return_path.ok()) return return_path.error();
  base::Result<Mailbox> to = ParseMailbox("to", mail.to);
  if (!to.ok()) return to.error();
  return Envelope{return_path->address, {to->address}};
}

std::string ReplySubject(std::string_view subject) {
  subject = Trim(subject);
  while (const size_t prefix = ReplyPrefixLength(subject)) subject = Trim(subject.substr(prefix));
  return subject.empty() ? "Re:" : "Re: " + std::string(subject);
}

std::string VerpAddress(std::string_view bounce_template, int64_t outbox_id, std::string_view key) {
  assert(outbox_id >= 0 && !key.empty());
  const std::string id = std::to_string(outbox_id);
  return FillAddressTemplate(bounce_template, kVerpPlaceholder,
                             id + "-" + SignBase32(key, kVerpContext, id, kVerpMacBytes));
}

std::optional<int64_t> ParseVerpAddress(std::string_view bounce_template, std::string_view address,
                                        std::string_view key) {
  const std::optional<std::string> tag =
      ExtractFromAddressTemplate(bounce_template, kVerpPlaceholder, address);
  if (!tag) return std::nullopt;
  const size_t dash = tag->rfind('-');
  if (dash == std::string::npos || dash == 0) return std::nullopt;
  const std::string_view id = std::string_view(*tag).substr(0, dash);
  // Only the canonical decimal form was signed: no sign, no leading zeros.
  if (id.size() > 1 && id.front() == '0') return std::nullopt;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), value);
  if (error != std::errc() || end != id.data() + id.size() || value < 0) return std::nullopt;
  if (!VerifyBase32Signature(std::string_view(*tag).substr(dash + 1), key, kVerpContext, id, kVerpMacBytes)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace mail

#include "mail/mime_parser.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mail/charset.h"
#include "mail/html_to_text.h"
#include "mail/mime_parser_codec.h"
#include "mail/mime_parser_fields.h"
#include "mail/mime_parser_text.h"
#include "mail/sha256.h"

namespace mail {
namespace {

using internal::DecodeBase64;
using internal::DecodeHeaderText;
using internal::DecodeQuotedPrintable;
using internal::DecodeUuencode;
using internal::EqualsNoCase;
using internal::IsBlank;
using internal::ParameterizedValue;
using internal::ParseAddressList;
using internal::ParseDate;
using internal::ParseIdList;
using internal::ParseParameterizedValue;

constexpr size_t npos = std::string_view::npos;
constexpr int kMaxDepthCeiling = 256;
constexpr size_t kMaxWarnings = 50;
// Header fields kept per header block: more is hostile, and each costs memory.
constexpr size_t kMaxHeaderFields = 10000;

std::string LowerTrimmed(std::string_view s) { return internal::AsciiLower(internal::Trim(s)); }

std::string ToLf(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  // The runs between CRs are copied whole.
  for (size_t i = 0; i < text.size();) {
    const size_t cr = text.find('\r', i);
    if (cr == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, cr - i));
    if (cr + 1 >= text.size() || text[cr + 1] != '\n') out += '\n';  // a lone CR ends a line too
    i = cr + 1;
  }
  return out;
}

// --- header blocks ---

// Length of the field name when `line` starts a header field ("Name:" or the
// obsolete "Name :"), else 0.
size_t FieldNameLength(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] > ' ' && line[n] < 127 && line[n] != ':') ++n;
  if (n == 0) return 0;
  size_t k = n;
  while (k < line.size() && IsBlank(line[k])) ++k;
  return k < line.size() && line[k] == ':' ? n : 0;
}

struct RawField {
  std::string_view name;
  std::string_view value;  // raw, possibly folded, without the final line break
};

struct HeaderBlock {
  std::vector<RawField> fields;
  std::string_view raw;          // the block as written, without the blank line
  size_t body_start = 0;         // offset of the body in the data
  bool junk_line = false;        // a line that is no header field ended the block
  bool too_many = false;         // fields beyond kMaxHeaderFields were dropped
  bool unindented_fold = false;  // a field went on on a line without indentation
};

struct Line {
  std::string_view text;  // without the line break
  size_t next = 0;        // offset of the following line
};

Line LineAt(std::string_view data, size_t pos, size_t end) {
  size_t eol = data.substr(0, end).find('\n', pos);
  if (eol == npos) eol = end;
  Line line{data.substr(pos, eol - pos), eol < end ? eol + 1 : end};
  if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1);
  return line;
}

bool IsWhitespaceOnly(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsBlank(c); });
}

// Reads the header block at data[pos, end). It ends at a blank line, at a line
// starting with `delimiter` (the enclosing multipart's, may be empty), or at a
// line that is no header field (which then starts the body) unless it is one
// word and the header goes on right after it (then it continues the field
// before it: a fold without indentation).
HeaderBlock ReadHeader(std::string_view data, size_t pos, size_t end, std::string_view delimiter) {
  HeaderBlock block;
  const size_t start = pos;
  while (pos < end) {
    const Line line = LineAt(data, pos, end);
    if (!delimiter.empty() && line.text.starts_with(delimiter)) {
      block.raw = data.substr(start, pos - start);
      block.body_start = pos;
      return block;
    }
    if (line.text.empty() || (block.fields.empty() && IsWhitespaceOnly(line.text))) {
      block.raw = data.substr(start, pos - start);
      block.body_start = line.next;
      return block;
    }
    if (IsBlank(line.text[0])) {
      if (!block.fields.empty() && !block.too_many) {
        RawField& last = block.fields.back();  // the value grows to the end of this line
        last.value = std::string_view(
            last.value.data(), static_cast<size_t>(line.text.data() + line.text.size() - last.value.data()));
      }
      pos = line.next;
      continue;
    }
    const size_t name_length = FieldNameLength(line.text);
    if (name_length == 0 && !block.fields.empty() && !block.too_many && line.next < end &&
        line.text.find_first_of(" \t@") == std::string_view::npos) {
      // A field folded without indentation ("Content-Type: multipart/mixed;"
      // then "boundary=..." at the start of the next line, or a long id cut
      // in two): one word without "@", and the header goes on after it.
      // Otherwise (text with spaces, an address, or more text after it) the
      // body started without a blank line.
      const Line after = LineAt(data, line.next, end);
      if (after.text.empty() || IsBlank(after.text[0]) || FieldNameLength(after.text) > 0) {
        RawField& last = block.fields.back();
        last.value = std::string_view(
            last.value.data(), static_cast<size_t>(line.text.data() + line.text.size() - last.value.data()));
        block.unindented_fold = true;
        pos = line.next;
        continue;
      }
    }
    if (name_length == 0) {
      block.junk_line = true;
      block.raw = data.substr(start, pos - start);
      block.body_start = pos;
      return block;
    }
    const size_t colon = line.text.find(':');
    if (block.fields.size() < kMaxHeaderFields) {
      block.fields.push_back({line.text.substr(0, name_length), line.text.substr(colon + 1)});
    } else {
      block.too_many = true;
    }
    pos = line.next;
  }
  block.raw = data.substr(start, end - start);
  block.body_start = end;
  return block;
}

const RawField* LastField(const HeaderBlock& block, std::string_view name) {
  for (auto it = block.fields.rbegin(); it != block.fields.rend(); ++it) {
    if (EqualsNoCase(it->name, name)) return &*it;
  }
  return nullptr;
}

const RawField* FirstField(const HeaderBlock& block, std::string_view name) {
  for (const RawField& f : block.fields) {
    if (EqualsNoCase(f.name, name)) return &f;
  }
  return nullptr;
}

// HeaderField::raw_value: unfolded (line breaks dropped, the white space
// after them kept, RFC 5322 §2.2.3), read as undeclared text, trimmed; no
// RFC 2047 decoding.
std::string RawHeaderText(std::string_view raw_value) {
  std::string unfolded;
  unfolded.reserve(raw_value.size());
  for (char c : raw_value) {
    if (c != '\r' && c != '\n') unfolded += c;
  }
  return std::string(internal::Trim(DecodeUndeclared(unfolded)));
}

bool StartsWithHeaderField(std::string_view data) {
  if (data.starts_with("From ")) {
    const size_t eol = data.find('\n');
    data = eol == npos ? std::string_view() : data.substr(eol + 1);
  }
  const Line first = LineAt(data, 0, data.size());
  return FieldNameLength(first.text) > 0;
}

// The offset where a body that runs up to a delimiter at `delimiter_pos` ends:
// the line break before the delimiter belongs to the delimiter.
size_t BodyEndBefore(std::string_view data, size_t body_start, size_t delimiter_pos) {
  size_t e = delimiter_pos;
  if (e > body_start && data[e - 1] == '\n') {
    --e;
    if (e > body_start && data[e - 1] == '\r') --e;
  }
  return e;
}

// --- format=flowed (RFC 3676), on text with LF line ends ---

std::string Unflow(std::string_view text, bool delete_space) {
  std::string out;
  out.reserve(text.size());
  bool joining = false;  // the previous line was flowed: continue it
  int joining_depth = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    const bool last = eol == npos;
    if (last) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    int depth = 0;
    while (!line.empty() && line.front() == '>') {
      line.remove_prefix(1);
      ++depth;
    }
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);  // space-stuffing
    const bool signature = line == "-- ";
    const bool flowed = !signature && !line.empty() && line.back() == ' ';
    if (flowed && delete_space) line.remove_suffix(1);
    if (joining && depth != joining_depth) out += '\n';
    if (!joining || depth != joining_depth) {
      if (depth > 0) {
        out.append(static_cast<size_t>(depth), '>');
        out += ' ';
      }
    }
    out += line;
    joining = flowed;
    joining_depth = depth;
    if (!flowed && !last) out += '\n';
    if (last) break;
    pos = eol + 1;
  }
  return out;
}

// --- the parser ---

struct Context {
  int parent = -1;                  // index of the enclosing part, -1 for the root
  std::string_view parent_subtype;  // the enclosing multipart's subtype ("" when none)
};

// What body choice and the report fields need to know about a part, beyond MimePart.
struct PartNotes {
  bool has_name = false;
  bool undecodable = false;   // its transfer encoding could not be undone: never a body
  bool opaque = false;        // a container left undescended (limits or no boundary)
  bool unterminated = false;  // the message ends inside it: incomplete, never a body
  bool flowed = false;
  bool delete_space = false;
  std::string_view header;  // raw header block (of the nested message for kMessage parts)
  std::string_view raw;     // raw content (the nested message for kMessage parts)
  std::string report_type;  // multipart/report's report-type parameter
};

class Parser {
 public:
  Parser(const ParseLimits& limits, Message* message) : limits_(limits), m_(message) {
    limits_.max_depth = std::clamp(limits_.max_depth, 0, kMaxDepthCeiling);
    limits_.max_parts = std::max(limits_.max_parts, 1);
  }

  void Run(std::string_view raw) {
    m_->raw_size = raw.size();
    if (raw.size() > limits_.max_size) {
      raw = raw.substr(0, limits_.max_size);
      Truncate("message larger than " + std::to_string(limits_.max_size) + " bytes; the rest was not read");
    }
    size_t start = 0;
    if (raw.starts_with("From ")) {  // an mbox separator line
      start = LineAt(raw, 0, raw.size()).next;
    }
    std::vector<std::string> delimiters;
    ParseEntity(raw, start, raw.size(), delimiters, 0, Context{}, /*top=*/true);
    ChooseBodies();
    FillAttachments();
    FillReports();
  }

 private:
  void Warn(std::string warning) {
    if (m_->warnings.size() < kMaxWarnings) {
      m_->warnings.push_back(std::move(warning));
    } else if (m_->warnings.size() == kMaxWarnings) {
      m_->warnings.push_back("more problems; only the first " + std::to_string(kMaxWarnings) + " are listed");
    }
  }

  void Truncate(std::string warning) {
    m_->truncated = true;
    Warn(std::move(warning));
  }

  // Parses the entity at data[pos, end), whose enclosing multiparts'
  // delimiters are `delimiters` (innermost last). Returns the offset of the
  // innermost delimiter that ended it, or npos when the data ended first.
  size_t ParseEntity(std::string_view data, size_t pos, size_t end, std::vector<std::string>& delimiters,
                     int depth, const Context& context, bool top) {
    if (stopped_) return npos;
    if (static_cast<int>(m_->parts.size()) >= limits_.max_parts) {
      stopped_ = true;
      Truncate("more than " + std::to_string(limits_.max_parts) + " MIME parts; the rest was dropped");
      return npos;
    }
    const std::string_view delimiter = delimiters.empty() ? std::string_view() : delimiters.back();
    const HeaderBlock header = ReadHeader(data, pos, end, delimiter);
    const int index = static_cast<int>(m_->parts.size());
    m_->parts.emplace_back();
    notes_.emplace_back();
    notes_.back().header = header.raw;
    if (context.parent >= 0) m_->parts[static_cast<size_t>(context.parent)].children.push_back(index);
    if (header.junk_line) Warn(PartName(index) + ": a line that is not a header field ended its header");
    if (header.unindented_fold) Warn(PartName(index) + ": a header field folded without indentation");
    if (header.too_many) {
      Truncate(PartName(index) + ": more than " + std::to_string(kMaxHeaderFields) +
               " header fields; the rest dropped");
    }
    if (top) ReadTopLevelFields(header);

    // Content-Type: the last one counts; a missing or invalid one means
    // text/plain, or message/rfc822 inside multipart/digest.
    ParameterizedValue type;
    if (const RawField* f = LastField(header, "Content-Type")) type = ParseParameterizedValue(f->value);
    if (type.value.find('/') == std::string::npos || type.value.front() == '/' || type.value.back() == '/') {
      if (!type.value.empty()) {
        Warn(PartName(index) + ": invalid Content-Type \"" + type.value + "\"; read as text/plain");
      }
      type.value = context.parent_subtype == "digest" ? "message/rfc822" : "text/plain";
    }
    ParameterizedValue disposition;
    if (const RawField* f = LastField(header, "Content-Disposition")) {
      disposition = ParseParameterizedValue(f->value);
    }
    std::string encoding;
    if (const RawField* f = LastField(header, "Content-Transfer-Encoding")) encoding = LowerTrimmed(f->value);
    Describe(index, type, disposition, header);

    const std::string& media = type.value;
    const size_t slash = media.find('/');
    const std::string_view major = std::string_view(media).substr(0, slash);
    const std::string_view minor = std::string_view(media).substr(slash + 1);
    const bool container = major == "multipart" || media == "message/rfc822" || media == "message/global";
    if (container && depth >= limits_.max_depth) {
      Truncate(PartName(index) + ": nested deeper than " + std::to_string(limits_.max_depth) +
               " levels; kept undecoded");
      notes_[static_cast<size_t>(index)].opaque = true;
      return ParseLeaf(data, header.body_start, end, delimiter, index, "", MimePart::Kind::kBinary);
    }
    if (major == "multipart") {
      const std::string* boundary = type.Parameter("boundary");
      if (boundary != nullptr && !boundary->empty()) {
        std::string needle = "--" + *boundary;
        const size_t first = FindDelimiter(data, header.body_start, end, needle);
        if (first != npos) {
          if (minor == "report") {
            if (const std::string* rt = type.Parameter("report-type")) {
              notes_[static_cast<size_t>(index)].report_type = LowerTrimmed(*rt);
            }
          }
          return ParseMultipart(data, first, end, delimiters, std::move(needle), depth, index, minor);
        }
      }
      Warn(PartName(index) + ": multipart without a usable boundary; read as text");
      notes_[static_cast<size_t>(index)].opaque = true;
      return ParseLeaf(data, header.body_start, end, delimiter, index, encoding, MimePart::Kind::kText);
    }
    if (media == "message/rfc822" || media == "message/global") {
      return ParseAttachedMessage(data, header.body_start, end, delimiters, depth, index, encoding);
    }
    MimePart::Kind kind = MimePart::Kind::kBinary;
    if (major == "text") kind = minor == "html" ? MimePart::Kind::kHtml : MimePart::Kind::kText;
    return ParseLeaf(data, header.body_start, end, delimiter, index, encoding, kind);
  }

  size_t ParseMultipart(std::string_view data, size_t first, size_t end, std::vector<std::string>& delimiters,
                        std::string needle, int depth, int index, std::string_view subtype) {
    m_->parts[static_cast<size_t>(index)].kind = MimePart::Kind::kMultipart;
    const size_t needle_size = needle.size();
    delimiters.push_back(std::move(needle));
    size_t at = first;
    bool closed = false;
    while (at != npos && !stopped_) {
      size_t after = at + needle_size;
      if (data.substr(after, 2) == "--") {
        closed = true;
        at = LineAt(data, after, end).next;
        break;
      }
      const size_t child_start = LineAt(data, after, end).next;
      if (IsWhitespaceOnly(data.substr(child_start, end - child_start))) {
        // A delimiter at the very end opens no part (a blank line after it
        // would: that is an empty header and an empty body).
        at = npos;
        break;
      }
      at = ParseEntity(data, child_start, end, delimiters, depth + 1, Context{index, subtype}, false);
    }
    delimiters.pop_back();
    if (!closed) {
      if (!stopped_) Warn(PartName(index) + ": multipart never closed (the message ends inside it)");
      return npos;
    }
    if (delimiters.empty()) return npos;  // the rest is the epilogue
    return FindDelimiter(data, at, end, delimiters.back());
  }

  size_t ParseAttachedMessage(std::string_view data, size_t body_start, size_t end,
                              std::vector<std::string>& delimiters, int depth, int index,
                              const std::string& encoding) {
    const std::string_view delimiter = delimiters.empty() ? std::string_view() : delimiters.back();
    if (encoding == "base64" || encoding == "quoted-printable") {
      const size_t stop = FindDelimiter(data, body_start, end, delimiter);
      const size_t body_end = stop == npos ? end : BodyEndBefore(data, body_start, stop);
      bool clean = true;
      const std::string_view encoded = data.substr(body_start, body_end - body_start);
      std::string decoded =
          encoding == "base64" ? DecodeBase64(encoded, &clean) : DecodeQuotedPrintable(encoded);
      if (clean && StartsWithHeaderField(decoded)) {
        const std::string_view nested = buffers_.emplace_back(std::move(decoded));
        m_->parts[static_cast<size_t>(index)].kind = MimePart::Kind::kMessage;
        notes_[static_cast<size_t>(index)].raw = nested;
        std::vector<std::string> own;
        ParseEntity(nested, 0, nested.size(), own, depth + 1, Context{index, ""}, false);
        return stop;
      }
      return NotAMessage(data, body_start, end, delimiter, index, encoding);
    }
    if (!StartsWithHeaderField(data.substr(body_start, end - body_start))) {
      return NotAMessage(data, body_start, end, delimiter, index, encoding);
    }
    m_->parts[static_cast<size_t>(index)].kind = MimePart::Kind::kMessage;
    const size_t stop = ParseEntity(data, body_start, end, delimiters, depth + 1, Context{index, ""}, false);
    const size_t body_end = stop == npos ? end : BodyEndBefore(data, body_start, stop);
    notes_[static_cast<size_t>(index)].raw = data.substr(body_start, body_end - body_start);
    return stop;
  }

  // An attached message whose content is no message: kept as text, an attachment.
  size_t NotAMessage(std::string_view data, size_t body_start, size_t end, std::string_view delimiter,
                     int index, const std::string& encoding) {
    Warn(PartName(index) + ": attached message is not a message; read as text");
    notes_[static_cast<size_t>(index)].undecodable = true;
    m_->parts[static_cast<size_t>(index)].encoding_problem = true;
    return ParseLeaf(data, body_start, end, delimiter, index, encoding, MimePart::Kind::kText);
  }

  static size_t FindDelimiter(std::string_view data, size_t from, size_t end, std::string_view delimiter) {
    if (delimiter.empty() || from >= end) return npos;
    // Boyer-Moore-Horspool: a boundary such as "-----...-x" must not make the
    // search quadratic over a body of dashes.
    const std::string_view hay = data.substr(from, end - from);
    const auto it = std::search(hay.begin(), hay.end(),
                                std::boyer_moore_horspool_searcher(delimiter.begin(), delimiter.end()));
    return it == hay.end() ? npos : from + static_cast<size_t>(it - hay.begin());
  }

  // A part without children: its body runs to the enclosing multipart's next delimiter.
  size_t ParseLeaf(std::string_view data, size_t body_start, size_t end, std::string_view delimiter,
                   int index, const std::string& encoding, MimePart::Kind kind) {
    body_start = std::min(body_start, end);
    const size_t stop = FindDelimiter(data, body_start, end, delimiter);
    const size_t body_end = stop == npos ? end : BodyEndBefore(data, body_start, stop);
    MimePart& part = m_->parts[static_cast<size_t>(index)];
    PartNotes& notes = notes_[static_cast<size_t>(index)];
    part.kind = kind;
    if (stop == npos && !delimiter.empty()) {
      // The message ends inside this part: it is incomplete, so it is kept as
      // an attachment rather than shown as a body (mail-parser does the same).
      part.encoding_problem = true;
      notes.unterminated = true;
    }
    const std::string_view raw = data.substr(body_start, body_end - body_start);
    notes.raw = raw;
    std::string bytes;
    if (encoding == "base64") {
      bool clean = true;
      bytes = DecodeBase64(raw, &clean);
      if (!clean) {
        Warn(PartName(index) + ": base64 body holds characters outside base64; kept undecoded");
        part.encoding_problem = true;
        notes.undecodable = true;
        part.kind = MimePart::Kind::kText;
        bytes.assign(raw);
      }
    } else if (encoding == "quoted-printable") {
      bytes = DecodeQuotedPrintable(raw);
    } else if (encoding == "x-uuencode" || encoding == "uuencode" || encoding == "x-uue") {
      bool clean = true;
      bytes = DecodeUuencode(raw, &clean);
      if (!clean) Warn(PartName(index) + ": uuencoded body without a begin line; kept undecoded");
    } else {
      bytes.assign(raw);
    }
    if (part.kind == MimePart::Kind::kBinary) {
      part.body = std::move(bytes);
      return stop;
    }
    std::string charset = part.charset;
    if (charset.empty() && part.kind == MimePart::Kind::kHtml && !IsValidUtf8(bytes)) {
      charset = MetaCharset(bytes);
    }
    DecodedText text = DecodeCharset(bytes, charset);
    if (!text.known_charset) Warn(PartName(index) + ": unknown charset \"" + charset + "\"");
    if (text.relabelled) Warn(PartName(index) + ": text is not in its declared charset \"" + charset + "\"");
    if (text.had_errors) {
      Warn(PartName(index) + ": bytes invalid in charset \"" + charset + "\" replaced");
      part.encoding_problem = true;
    }
    part.body = std::move(text.text);
    return stop;
  }

  // The charset an HTML document declares in a <meta> tag near its start, or "".
  static std::string MetaCharset(std::string_view html) {
    const std::string head = LowerTrimmed(html.substr(0, 2048));
    size_t at = head.find("charset=");
    if (at == std::string::npos) return "";
    at += 8;
    while (at < head.size() && (head[at] == '"' || head[at] == '\'')) ++at;
    size_t stop = at;
    while (stop < head.size() &&
           (internal::IsAlpha(head[stop]) || internal::IsDigit(head[stop]) || head[stop] == '-' ||
            head[stop] == '_' || head[stop] == ':' || head[stop] == '.')) {
      ++stop;
    }
    return head.substr(at, stop - at);
  }

  void Describe(int index, const ParameterizedValue& type, const ParameterizedValue& disposition,
                const HeaderBlock& header) {
    MimePart& part = m_->parts[static_cast<size_t>(index)];
    PartNotes& notes = notes_[static_cast<size_t>(index)];
    part.content_type = type.value;
    if (const std::string* c = type.Parameter("charset")) part.charset = LowerTrimmed(*c);
    if (!disposition.value.empty()) {
      part.disposition = disposition.value == "inline" ? "inline" : "attachment";
    }
    const std::string* name = disposition.Parameter("filename");
    if (name == nullptr || name->empty()) name = type.Parameter("name");
    if (name != nullptr) {
      part.filename = *name;
      notes.has_name = !name->empty();
    }
    if (const RawField* f = LastField(header, "Content-ID")) {
      std::vector<std::string> ids = ParseIdList(f->value);
      if (!ids.empty()) part.content_id = std::move(ids.front());
    }
    if (const std::string* format = type.Parameter("format");
        format != nullptr && LowerTrimmed(*format) == "flowed") {
      notes.flowed = true;
      const std::string* delsp = type.Parameter("delsp");
      notes.delete_space = delsp != nullptr && LowerTrimmed(*delsp) == "yes";
    }
  }

  std::string PartName(int index) const { return "part " + std::to_string(index); }

  void ReadTopLevelFields(const HeaderBlock& header) {
    for (const RawField& f : header.fields) {
      m_->headers.push_back(
          HeaderField{std::string(f.name), DecodeHeaderText(f.value), RawHeaderText(f.value)});
    }
    auto all = [&](std::string_view name) {
      std::vector<std::string_view> values;
      for (const RawField& f : header.fields) {
        if (EqualsNoCase(f.name, name)) values.push_back(f.value);
      }
      return values;
    };
    // Every occurrence of the field `name`, parsed with `parse`, in one list
    // of at most kMaxListItems entries.
    auto collect = [&](std::string_view name, auto parse) {
      decltype(parse(std::string_view())) out;
      for (std::string_view v : all(name)) {
        auto more = parse(v);
        more.resize(std::min(more.size(), internal::kMaxListItems - out.size()));
        out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
        if (out.size() >= internal::kMaxListItems) break;
      }
      return out;
    };
    auto ids = [&](std::string_view name) { return collect(name, ParseIdList); };
    auto addresses = [&](std::string_view name) { return collect(name, ParseAddressList); };
    auto single_address = [&](std::string_view name) -> std::optional<Address> {
      const RawField* f = FirstField(header, name);
      if (f == nullptr) return std::nullopt;
      std::vector<Address> list = ParseAddressList(f->value);
      if (list.empty()) return std::nullopt;
      return std::move(list.front());
    };
    auto plain_addresses = [&](std::string_view name) {
      std::vector<std::string> out;
      for (std::string_view v : all(name)) {
        std::vector<Address> list = ParseAddressList(v);
        if (!list.empty() && !list.front().address.empty()) out.push_back(std::move(list.front().address));
      }
      return out;
    };

    if (std::vector<std::string> mid = ids("Message-ID"); !mid.empty()) {
      m_->message_id = std::move(mid.front());
    }
    m_->in_reply_to = ids("In-Reply-To");
    m_->references = ids("References");
    m_->from = single_address("From");
    m_->sender = single_address("Sender");
    m_->reply_to = addresses("Reply-To");
    m_->to = addresses("To");
    m_->cc = addresses("Cc");
    m_->delivered_to = plain_addresses("Delivered-To");
    m_->x_original_to = plain_addresses("X-Original-To");
    if (const RawField* f = FirstField(header, "Return-Path")) {
      std::vector<Address> list = ParseAddressList(f->value);
      m_->return_path = list.empty() ? std::string() : std::move(list.front().address);
    }
    if (const RawField* f = FirstField(header, "Subject")) m_->subject = DecodeHeaderText(f->value);
    if (const RawField* f = FirstField(header, "Date")) {
      m_->date = ParseDate(f->value);
      if (!m_->date) Warn("unreadable Date header");
    }
    if (header.fields.empty()) Warn("no header fields");
  }

  // --- body choice: RFC 8621 §4.1.4 ---

  static bool IsInlineMedia(std::string_view type) {
    return type.starts_with("image/") || type.starts_with("audio/") || type.starts_with("video/");
  }

  // RFC 8621's parseStructure over `siblings`, the parts of a multipart of
  // `multipart_type` ("mixed" for the root). A null body list means "no
  // longer collected" as in the RFC's pseudo-code.
  void ParseStructure(const std::vector<int>& siblings, std::string_view multipart_type, bool in_alternative,
                      std::vector<int>* html, std::vector<int>* text, std::vector<int>* attachments) {
    const size_t text_length = text ? text->size() : 0;
    const size_t html_length = html ? html->size() : 0;
    for (size_t i = 0; i < siblings.size(); ++i) {
      const int index = siblings[i];
      const MimePart& part = m_->parts[static_cast<size_t>(index)];
      const PartNotes& notes = notes_[static_cast<size_t>(index)];
      const std::string& type = part.content_type;
      const bool is_inline =
          part.disposition != "attachment" && !notes.undecodable && !notes.opaque && !notes.unterminated &&
          (type == "text/plain" || type == "text/html" || IsInlineMedia(type)) &&
          (i == 0 || (multipart_type != "related" && (IsInlineMedia(type) || !notes.has_name)));
      if (part.kind == MimePart::Kind::kMultipart) {
        const std::string_view sub = std::string_view(type).substr(type.find('/') + 1);
        ParseStructure(part.children, sub, in_alternative || sub == "alternative", html, text, attachments);
      } else if (is_inline) {
        if (multipart_type == "alternative") {
          // (A list an enclosing part stopped collecting stays stopped.)
          if (type == "text/plain") {
            if (text) text->push_back(index);
          } else if (type == "text/html") {
            if (html) html->push_back(index);
          } else {
            attachments->push_back(index);
          }
          continue;
        }
        if (in_alternative) {
          if (type == "text/plain") html = nullptr;
          if (type == "text/html") text = nullptr;
        }
        if (text) text->push_back(index);
        if (html) html->push_back(index);
        if ((!text || !html) && IsInlineMedia(type)) attachments->push_back(index);
      } else {
        attachments->push_back(index);
      }
    }
    if (multipart_type == "alternative" && text && html) {
      // Only HTML was found: it is the text body too; only text: the HTML body too.
      if (text_length == text->size() && html_length != html->size()) {
        for (size_t k = html_length; k < html->size(); ++k) text->push_back((*html)[k]);
      }
      if (html_length == html->size() && text_length != text->size()) {
        for (size_t k = text_length; k < text->size(); ++k) html->push_back((*text)[k]);
      }
    }
  }

  void ChooseBodies() {
    if (m_->parts.empty()) return;
    std::vector<int> attachments;
    ParseStructure({0}, "mixed", false, &m_->html_body_parts, &m_->text_body_parts, &attachments);
    // Our deviation (see the header): inline media shown in both bodies is an attachment too.
    for (int index : m_->text_body_parts) {
      const MimePart& part = m_->parts[static_cast<size_t>(index)];
      if (IsInlineMedia(part.content_type) &&
          std::find(attachments.begin(), attachments.end(), index) == attachments.end()) {
        attachments.push_back(index);
      }
    }
    std::sort(attachments.begin(), attachments.end());
    attachments_ = std::move(attachments);

    for (int index : m_->text_body_parts) {
      const MimePart& part = m_->parts[static_cast<size_t>(index)];
      const PartNotes& notes = notes_[static_cast<size_t>(index)];
      std::string text;
      if (part.kind == MimePart::Kind::kHtml) {
        HtmlText html = HtmlToTextChecked(part.body);
        if (html.truncated) {
          Warn("part " + std::to_string(index) + ": HTML over the converter's limits; its text is truncated");
        }
        text = std::move(html.text);
        m_->text_from_html = true;
      } else if (part.kind == MimePart::Kind::kText) {
        text = ToLf(part.body);
        if (notes.flowed) text = Unflow(text, notes.delete_space);
      } else {
        continue;
      }
      if (!m_->text_body.empty() && m_->text_body.back() != '\n') m_->text_body += '\n';
      m_->text_body += text;
    }
    for (int index : m_->html_body_parts) {
      const MimePart& part = m_->parts[static_cast<size_t>(index)];
      if (part.kind == MimePart::Kind::kHtml) m_->html_body += part.body;
    }
  }

  void FillAttachments() {
    for (int index : attachments_) {
      MimePart& part = m_->parts[static_cast<size_t>(index)];
      const PartNotes& notes = notes_[static_cast<size_t>(index)];
      if (part.kind == MimePart::Kind::kMessage) part.body.assign(notes.raw);  // the .eml as attached
      Attachment a;
      a.part = index;
      a.filename = part.filename;
      a.content_type = part.content_type;
      a.size = part.body.size();
      a.sha256 = Sha256Hex(part.body);
      a.content_id = part.content_id;
      a.is_inline = part.disposition != "attachment" &&
                    (std::find(m_->text_body_parts.begin(), m_->text_body_parts.end(), index) !=
                         m_->text_body_parts.end() ||
                     std::find(m_->html_body_parts.begin(), m_->html_body_parts.end(), index) !=
                         m_->html_body_parts.end() ||
                     (!part.content_id.empty() && IsInlineMedia(part.content_type)));
      m_->attachments.push_back(std::move(a));
    }
  }

  // --- multipart/report (RFC 6522) ---

  // Visits the top-level message's parts in depth-first order, not entering attached messages.
  template <typename Visit>
  void VisitTopLevel(int index, const Visit& visit) {
    visit(index);
    const MimePart& part = m_->parts[static_cast<size_t>(index)];
    if (part.kind != MimePart::Kind::kMultipart) return;
    for (int child : part.children) VisitTopLevel(child, visit);
  }

  void FillReports() {
    if (m_->parts.empty()) return;
    int report = -1;
    VisitTopLevel(0, [&](int index) {
      const MimePart& part = m_->parts[static_cast<size_t>(index)];
      const std::string& type = part.content_type;
      if (report < 0 && type == "multipart/report" && part.kind == MimePart::Kind::kMultipart) {
        report = index;
        m_->report_type = notes_[static_cast<size_t>(index)].report_type;
      }
      auto text_of = [&] { return ToLf(DecodeCharset(part.body, part.charset).text); };
      if ((type == "message/delivery-status" || type == "message/global-delivery-status") &&
          m_->delivery_status.empty()) {
        m_->delivery_status = text_of();
      } else if (type == "message/feedback-report" && m_->feedback_report.empty()) {
        m_->feedback_report = text_of();
      }
    });
    if (report < 0) return;
    for (int child : m_->parts[static_cast<size_t>(report)].children) {
      const MimePart& part = m_->parts[static_cast<size_t>(child)];
      if (part.kind == MimePart::Kind::kMessage && !part.children.empty()) {
        const PartNotes& nested = notes_[static_cast<size_t>(part.children.front())];
        m_->returned_headers = ToLf(DecodeUndeclared(nested.header));
        break;
      }
      if (part.content_type == "text/rfc822-headers" || part.content_type == "message/rfc822-headers") {
        m_->returned_headers = ToLf(part.body);
        break;
      }
    }
  }

  ParseLimits limits_;
  Message* m_;
  std::vector<PartNotes> notes_;     // parallel to m_->parts
  std::deque<std::string> buffers_;  // decoded attached messages the parts point into
  std::vector<int> attachments_;
  bool stopped_ = false;  // the part limit was reached
};

}  // namespace

Message ParseMessage(std::string_view raw, const ParseLimits& limits) {
  Message message;
  Parser parser(limits, &message);
  parser.Run(raw);
  return message;
}

bool LooksLikeEmail(std::string_view raw) { return StartsWithHeaderField(raw); }

}  // namespace mail

// The one escaping path of the web view: text cleaning, the HTML writer and
// the escapers for HTML text, attribute values, URLs and Atom (XML 1.0).
//
// Every string that reaches a page comes from an email, so the writers take
// markup only as a distinct type, TrustedHtml (TrustedXml for feeds), whose
// constructor is consteval: only string literals in view code can make one.
// Everything else — std::string, std::string_view, numbers — is cleaned and
// escaped for its context. A writer's finished output may be appended to
// another writer of the same kind (it is escaped already); nothing else can.
//
// Cleaning (CleanText) is the same on every surface (HTML, XML, JSON): the
// result is valid UTF-8 (each invalid byte becomes U+FFFD), without NUL, other
// C0 controls except tab/LF/CR, DEL, C1 controls, U+FFFE/U+FFFF (not allowed
// in XML), and without the bidirectional embedding, override and isolate
// controls (U+202A–U+202E, U+2066–U+2069), so a right-to-left override can
// never make text read differently from what it is. Right-to-left scripts
// themselves are untouched; view code also wraps user strings in <bdi>.
//
// Thread-safety: free functions are pure; a writer is a plain value (one
// thread at a time).
#ifndef MAILFORUM_WEB_HTML_H_
#define MAILFORUM_WEB_HTML_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace web {

// --- text cleaning (every surface) ---

// `text` as valid UTF-8 without the characters listed above.
std::string CleanText(std::string_view text);
// CleanText, and tab, CR and LF become spaces: for one-line places (titles,
// headings, mail subjects in mailto: links).
std::string CleanLine(std::string_view text);
// The first `max_chars` code points of `text`, followed by "…" when it was
// longer. Cuts only at code point boundaries (feed it CleanText output).
std::string TruncateChars(std::string_view text, size_t max_chars);
// Number of code points in valid UTF-8 `text`.
size_t CountChars(std::string_view text);

// --- escapers (each cleans first) ---

// HTML text: & < > " ' become references. The same escaping is right for an
// attribute value written inside double quotes (HtmlWriter always quotes).
void AppendHtmlEscaped(std::string& out, std::string_view text);
// XML 1.0 character data and attribute values (double-quoted): & < > " '
// become references; characters XML does not allow are dropped (CleanText).
void AppendXmlEscaped(std::string& out, std::string_view text);
// A URL path segment or query component: every byte but the unreserved
// characters of RFC 3986 (A–Z a–z 0–9 - . _ ~) is percent-encoded. Cleans
// first, so the result decodes to valid UTF-8.
std::string PercentEncode(std::string_view component);
// `address` for the path of a mailto: URL (RFC 6068): like PercentEncode but
// keeps @ + and the other characters an addr-spec needs unencoded.
std::string MailtoEncode(std::string_view address);

// Whether `url` may be an href: an absolute http, https or mailto URL, or a
// relative reference starting with "/", "?" or "#" (not "//": that names
// another host). Anything with a space, a control character or a backslash is
// refused, because browsers strip or reinterpret those ("java\tscript:").
bool IsSafeHref(std::string_view url);
// Whether `url` is an absolute http or https URL with a host that IsSafeHref
// accepts: the only links made from text in an email.
bool IsWebUrl(std::string_view url);

// --- trusted markup ---

// Markup written by view code. consteval: a TrustedMarkup can only be made
// from a compile-time constant, so text from the database can never become
// one. Kind tells HTML from XML apart.
template <typename Kind>
class TrustedMarkup {
 public:
  consteval TrustedMarkup(const char* literal)  // NOLINT(google-explicit-constructor): literals convert
      : text_(literal) {}
  constexpr std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};
struct HtmlKind {};
struct XmlKind {};
using TrustedHtml = TrustedMarkup<HtmlKind>;
using TrustedXml = TrustedMarkup<XmlKind>;

// Builds an HTML document or fragment.
class HtmlWriter {
 public:
  // Markup from view code, as it is.
  HtmlWriter& Html(TrustedHtml markup) {
    out_.append(markup.text());
    return *this;
  }
  // Text, cleaned and escaped.
  HtmlWriter& Text(std::string_view text) {
    AppendHtmlEscaped(out_, text);
    return *this;
  }
  HtmlWriter& Number(int64_t n) {
    out_.append(std::to_string(n));
    return *this;
  }
  // ` name="value"` with the value cleaned and escaped.
  HtmlWriter& Attr(TrustedHtml name, std::string_view value);
  // ` href="url"` when IsSafeHref(url); writes nothing and returns false
  // otherwise (the caller then writes no link).
  bool Href(std::string_view url);
  // The output of another writer (escaped by it).
  HtmlWriter& Append(const HtmlWriter& other) {
    out_.append(other.out_);
    return *this;
  }

  const std::string& str() const { return out_; }
  std::string Take() && { return std::move(out_); }
  void Reserve(size_t n) { out_.reserve(n); }

 private:
  std::string out_;
};

// Builds an XML document (Atom).
class XmlWriter {
 public:
  XmlWriter& Xml(TrustedXml markup) {
    out_.append(markup.text());
    return *this;
  }
  XmlWriter& Text(std::string_view text) {
    AppendXmlEscaped(out_, text);
    return *this;
  }
  // ` name="value"` with the value cleaned and escaped.
  XmlWriter& Attr(TrustedXml name, std::string_view value);

  const std::string& str() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace web

#endif  // MAILFORUM_WEB_HTML_H_

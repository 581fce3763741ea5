#include "mail/html_to_text.h"

#include <gumbo.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mail/charset.h"
#include "mail/mime_parser_text.h"

namespace mail {
namespace {

constexpr size_t npos = std::string::npos;
constexpr size_t kMaxHtmlBytes = size_t{4} << 20;
// The text produced, at most: the size of the HTML read and 64 KiB. Mail's
// text is shorter than its markup, but quote prefixes and list indentation
// repeated on every line of deeply nested markup could make it many times
// longer, and the text's size is the cost of whatever reads it next.
size_t MaxTextBytes(size_t html_bytes) { return html_bytes + (size_t{64} << 10); }
// Open elements the pre-filter lets through, every start tag counted. Gumbo
// looks through its stack of open elements for each block start tag (is a
// <p> open?), so the depth is a factor of its time; mail needs less than 32.
constexpr size_t kMaxTagDepth = 128;
// Gumbo checks on every character whether the last open link is still open by
// scanning its stack of open elements from the bottom: a link opened deep
// makes every character of its text cost that depth.
constexpr size_t kMaxLinkDepth = 48;
// Gumbo compares each attribute with every earlier one of its tag.
constexpr size_t kMaxAttributes = 64;
// Gumbo adds implied elements (html, body, tbody, tr) on top of what the
// pre-filter lets through; deeper than this we only collect text.
constexpr int kMaxRenderDepth = 400;
// Each level of nested tables copies the text of its cells once more.
constexpr int kMaxTableNesting = 8;
// The nodes of a link read to compare its text with its address.
constexpr size_t kMaxLinkNodes = 4096;
constexpr std::string_view kRule = "________________________________";
// What the pre-filter writes for <br>: the last private-use character
// (U+10FFFD; Gumbo would turn a noncharacter into U+FFFD), which the renderer
// reads as a line break. Gumbo then sees text instead of an element (a third
// of its nodes in mail written as lines and <br>s); a U+10FFFD of the input
// itself becomes U+FFFD first.
constexpr std::string_view kBreak = "\xF4\x8F\xBF\xBD";
bool IsBreakAt(std::string_view s, size_t i) { return s.compare(i, kBreak.size(), kBreak) == 0; }
// What the pre-filter writes for a <div> without rendered attributes (its
// start and its end): U+10FFFC, which the renderer reads as the end of a line
// (what a <div> renders as). Gmail writes one <div> per line, and the tree
// builder treats a <div> as it treats text wherever the pre-filter writes this
// (outside tables, SVG, MathML and framesets); a U+10FFFC of the input itself
// becomes U+FFFD first.
constexpr std::string_view kBlock = "\xF4\x8F\xBF\xBC";
bool IsBlockAt(std::string_view s, size_t i) { return s.compare(i, kBlock.size(), kBlock) == 0; }
// The same for a <p> without rendered attributes, where a <p> is as text to
// the tree builder and also in quirks mode (no doctype: a <table> does not end
// it there): U+10FFFB, read as the end of a paragraph (a blank line). A stray
// </p> (an empty paragraph) is two of them.
constexpr std::string_view kPara = "\xF4\x8F\xBF\xBB";
bool IsParaAt(std::string_view s, size_t i) { return s.compare(i, kPara.size(), kPara) == 0; }

// --- text hidden from Gumbo ---
//
// Gumbo's tokenizer and tree builder spend a hundred instructions and more on
// every character of text, although the tree builder does the same with a
// run of text whatever characters it holds (once its first character is not
// whitespace). So the pre-filter keeps runs of text (with the line breaks and
// the <div>s it wrote as characters) out of Gumbo: each run becomes one or two
// private-use characters of planes 15 and 16 (U+F0000 + k, for the k-th run,
// preceded by U+100000 + k / 65534 when k is 65534 or more) and goes into a
// side table, which the renderer reads back wherever Gumbo put the characters.
// What Gumbo would change or read is left to it, whitespace at either end of
// a run (its rules for whitespace differ), character references (from '&' to
// the end of what could be one), carriage returns and the control and
// noncharacter code points it replaces. The input's own characters of planes
// 15 and 16 are always hidden, and numeric references to them become U+FFFD,
// so that every such character in Gumbo's text is one the pre-filter wrote.
constexpr uint32_t kFinalDigits = 65534;    // U+F0000 .. U+FFFFD
constexpr uint32_t kLeadingDigits = 32768;  // U+100000 .. U+107FFF
constexpr uint32_t kFinalBase = 0xF0000;
constexpr uint32_t kLeadingBase = 0x100000;
// Shorter runs are left to Gumbo: a placeholder is four bytes long.
constexpr size_t kMinHiddenBytes = 3;

// The code point of the well-formed four-byte sequence at s[i].
uint32_t FourByteCodePoint(std::string_view s, size_t i) {
  return (static_cast<uint32_t>(s[i] & 0x07) << 18) | (static_cast<uint32_t>(s[i + 1] & 0x3F) << 12) |
         (static_cast<uint32_t>(s[i + 2] & 0x3F) << 6) | static_cast<uint32_t>(s[i + 3] & 0x3F);
}

// Whether a four-byte sequence starting with `lead` and `second` is in planes 15 or 16.
bool IsPlane15Or16(char lead, char second) {
  return (lead == '\xF3' && static_cast<unsigned char>(second) >= 0xB0) || lead == '\xF4';
}

// The runs of text the pre-filter hid: run k is text[ends[k-1], ends[k]).
struct HiddenText {
  std::string text;
  std::vector<uint32_t> ends;

  std::string_view Run(size_t k) const {
    if (k >= ends.size()) return "\xEF\xBF\xBD";  // not one of ours (cannot happen)
    const size_t begin = k == 0 ? 0 : ends[k - 1];
    return std::string_view(text).substr(begin, ends[k] - begin);
  }

  // Calls `piece` with the parts of Gumbo's text `s`, placeholders replaced by their runs.
  template <typename F>
  void ForEachPiece(std::string_view s, F&& piece) const {
    size_t from = 0;
    for (size_t i = 0; i + 3 < s.size(); ++i) {
      if (static_cast<unsigned char>(s[i]) < 0xF3 || !IsPlane15Or16(s[i], s[i + 1])) continue;
      const uint32_t cp = FourByteCodePoint(s, i);
      size_t k = 0;
      size_t end = i + 4;
      if (cp >= kFinalBase && cp < kFinalBase + kFinalDigits) {
        k = cp - kFinalBase;
      } else if (cp >= kLeadingBase && cp < kLeadingBase + kLeadingDigits && end + 3 < s.size() &&
                 IsPlane15Or16(s[end], s[end + 1])) {
        const uint32_t last = FourByteCodePoint(s, end);
        if (last < kFinalBase || last >= kFinalBase + kFinalDigits) continue;
        k = static_cast<size_t>(cp - kLeadingBase) * kFinalDigits + (last - kFinalBase);
        end += 4;
      } else {
        continue;  // the pre-filter's break and block characters
      }
      if (i > from) piece(s.substr(from, i - from));
      piece(Run(k));
      from = end;
      i = end - 1;
    }
    if (from < s.size()) piece(s.substr(from));
  }
};

using internal::AsciiLower;
using internal::IsAlpha;

bool IsHtmlSpace(char c) { return internal::IsSpace(c) || c == '\f'; }

// --- the pre-filter that keeps Gumbo linear ---
//
// Gumbo implements the WHATWG tree builder, whose cost per token grows with
// the depth of the tree and with the length of the list of active formatting
// elements; hostile markup makes both grow with the input (mis-nested inline
// and block elements, formatting elements reopened in every block), so the
// whole parse becomes quadratic, and Gumbo frees its tree recursively.
//
// The pre-filter therefore tokenizes the HTML itself and hands Gumbo a
// canonical, balanced token stream whose depth it has counted:
//  - every start tag it lets through is either pushed on its own stack of open
//    elements (at most kMaxTagDepth deep; deeper start tags are dropped, their
//    text kept) or immediately followed by its end tag; only void elements
//    have neither;
//  - end tags close what is open: the elements above the one closed get
//    explicit end tags first; end tags that close nothing are dropped; the
//    end tags HTML leaves out (p, li, td, tr, ...) are written where a start
//    tag implies them, following the tree builder's scope rules, so that
//    ordinary mail keeps its structure;
//  - the formatting elements the tree builder reopens (b, i, font, ...: they
//    show nothing in text) become <span>, so its list of active formatting
//    elements only ever holds links, one per table cell at most;
//  - tags are rewritten (at most kMaxAttributes attributes, quoted), and text
//    is escaped so that Gumbo cannot see markup the pre-filter did not see;
//    comments, processing instructions and the content of scripts and style
//    sheets are dropped.
// Gumbo's tree is then at most about twice as deep as the pre-filter's stack
// (it adds tbody and tr), so its time and its tree's depth are bounded.
class Prefilter {
 public:
  // With `markers`, <div>s and <p>s may be written as characters (see DivIsText).
  Prefilter(std::string_view html, bool markers) : html_(html), markers_(markers) {
    out_.reserve(html.size() / 2);
  }

  // True after Run when the HTML must be filtered again without markers: its
  // stack stopped being the tree builder's after a marker was written.
  bool restart() const { return restart_; }

  std::string Run() {
    size_t i = 0;
    while (i < html_.size() && !restart_) {
      const size_t lt = html_.find('<', i);
      if (lt == npos) {
        pending_.append(html_.substr(i));
        break;
      }
      const std::string_view text = html_.substr(i, lt - i);
      pending_.append(text);
      if (!seen_text_)
        seen_text_ = std::any_of(text.begin(), text.end(), [](char c) { return !IsHtmlSpace(c); });
      i = Markup(lt);
    }
    CloseTo(0);
    FlushText();
    return std::move(out_);
  }

  // The runs of text hidden from Gumbo (after Run).
  HiddenText TakeHidden() { return std::move(hidden_); }

 private:
  struct Tag {
    std::string name;  // ASCII lower case
    bool closing = false;
    bool self_closing = false;
    size_t end = 0;  // offset just past its '>'
    bool complete = false;
    std::vector<std::pair<std::string_view, std::string_view>> attributes;  // raw name, raw value
  };

  // What Gumbo was given for an element: its name, a <span> (for the
  // formatting elements), or kBlock or kPara at its start and end (a <div>, a <p>).
  enum class Emitted { kName, kSpan, kBlockCharacter, kParaCharacter };

  struct Open {
    std::string name;  // as written (lower case)
    Emitted emitted = Emitted::kName;
    unsigned kind = 0;
    int id = -1;  // NameInfo::id
  };

  static bool IsTagSpace(char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }

  // --- text: collected in pending_ (HTML text with its references, but '<'
  // a literal character) and written when markup follows ---

  // The length of the character at s[i] when it may be hidden from Gumbo
  // (setting `must_hide` for planes 15 and 16), or 0 when Gumbo must see it.
  static size_t HideableLength(std::string_view s, size_t i, bool& must_hide) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      // '<' too: where Gumbo reads raw text the pre-filter did not expect, it reads "&lt;" as written.
      const bool ok = (c >= 0x20 && c != '&' && c != '<' && c != 0x7F) || c == '\t' || c == '\n' || c == '\f';
      return ok ? 1 : 0;
    }
    // Gumbo's input is valid UTF-8; anything else is left to it.
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    uint32_t cp = c & (0x3F >> (len - 1));
    for (size_t k = 1; k < len; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (t & 0x3F);
    }
    // Code points Gumbo replaces by U+FFFD: C1 controls and noncharacters.
    if (cp <= 0x9F || (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return 0;
    if (cp >= kFinalBase && (cp < 0x10FFFB || cp > 0x10FFFD)) must_hide = true;  // not kPara, kBlock, kBreak
    return len;
  }

  // The length of what Gumbo must see at s[i] (s[i] not hideable): a
  // character reference as far as it could reach, or one character.
  static size_t VisibleLength(std::string_view s, size_t i) {
    if (s[i] != '&') {
      size_t len = 1;
      while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
      return len;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') ++j;
    while (j < s.size() && (IsAlpha(s[j]) || (s[j] >= '0' && s[j] <= '9'))) ++j;
    if (j < s.size() && s[j] == ';') ++j;
    return j - i;
  }

  void WriteVisible(std::string_view text) {
    for (size_t lt = text.find('<'); lt != npos; lt = text.find('<')) {
      out_.append(text.substr(0, lt));
      out_ += "&lt;";
      text.remove_prefix(lt + 1);
    }
    out_.append(text);
  }

  void Hide(std::string_view run) {
    const size_t k = hidden_.ends.size();
    hidden_.text.append(run);
    hidden_.ends.push_back(static_cast<uint32_t>(hidden_.text.size()));
    if (k >= kFinalDigits) AppendUtf8(out_, kLeadingBase + static_cast<uint32_t>(k / kFinalDigits));
    AppendUtf8(out_, kFinalBase + static_cast<uint32_t>(k % kFinalDigits));
  }

  // Writes pending_ for Gumbo, its runs of text hidden.
  void FlushText() {
    const std::string_view s = pending_;
    size_t i = 0;
    while (i < s.size()) {
      bool must_hide = false;
      size_t end = i;
      while (end < s.size()) {
        const size_t len = HideableLength(s, end, must_hide);
        if (len == 0) break;
        end += len;
      }
      if (end == i) {
        const size_t len = VisibleLength(s, i);
        WriteVisible(s.substr(i, len));
        i += len;
        continue;
      }
      // Whitespace at either end stays Gumbo's: its rules for whitespace differ.
      size_t a = i;
      while (a < end && IsHtmlSpace(s[a])) ++a;
      size_t b = end;
      while (b > a && IsHtmlSpace(s[b - 1])) --b;
      if (must_hide || (b - a >= kMinHiddenBytes && !frameset_)) {
        out_.append(s.substr(i, a - i));
        Hide(s.substr(a, b - a));
        out_.append(s.substr(b, end - b));
      } else {
        WriteVisible(s.substr(i, end - i));
      }
      i = end;
    }
    pending_.clear();
  }

  // Whether the tree builder treats a <div> here as it treats text: in body
  // and not in a table (in a table's own structure it would move the <div>
  // before the table and close it at the next row; in a cell, start tags of
  // the table's structure that the pre-filter does not expect there end the
  // cell and the <div> with it), not in a select (which ignores a <div>), not in a
  // link (a link opened in it would move the <div> out of the first), not in
  // a form (Gumbo ends a form early at the end of a link in it, unless an
  // element is between them), not in an element whose content Gumbo reads as
  // raw text (where the pre-filter did not expect it), not in SVG or MathML (which a
  // <div> leaves), not in a frameset, not once the pre-filter's stack may
  // differ from the tree builder's, and only once text has been seen (a
  // <div>, unlike text, lets a later <frameset> replace the body).
  bool DivIsText() const {
    if (!markers_ || foreign_ > 0 || frameset_ || diverged_ || !seen_text_) return false;
    return pos_.table_part.empty() && raw_open_ == 0 && TopOf(kSelect) < 0 && TopOf(kA) < 0 &&
           TopOf(kForm) < 0;
  }

  // What the tree builder does with an element, one lookup per tag.
  enum Kind : unsigned {
    kVoid = 1u << 0,
    kBreakoutVoid = 1u << 1,  // void, and also leaves SVG and MathML (so it stays void there)
    kFormatting = 1u << 2,    // reopened by the tree builder; shows nothing in text
    kHeading = 1u << 3,
    kClosesP = 1u << 4,     // its start tag closes an open <p> (in button scope)
    kSpecial = 1u << 5,     // the HTML standard's "special" elements
    kBoundary = 1u << 6,    // ends the default scope ("has an element in scope")
    kTablePart = 1u << 7,   // its end tag looks in table scope
    kRawDropped = 1u << 8,  // raw text never shown
    kInline = 1u << 9,      // shows nothing of itself in text: dropped without rendered attributes
    kRawText = 1u << 10,    // Gumbo reads its content as raw text
  };

  // Names the pre-filter asks about: their ids are fixed (see NameTable).
  enum Id : int {
    kP,
    kLi,
    kDd,
    kDt,
    kTd,
    kTh,
    kTr,
    kTbody,
    kThead,
    kTfoot,
    kTable,
    kTemplate,
    kCaption,
    kSelect,
    kA,
    kForm,
    kButton,
    kOption,
    kOptgroup,
    kOl,
    kUl,
    kSvg,
    kMath,
    kAddress,
    kDiv,
    kH1,
    kH2,
    kH3,
    kH4,
    kH5,
    kH6,
    kTracked,
  };
  static constexpr std::string_view kTrackedNames[kTracked] = {
      "p",      "li",     "dd",       "dt",       "td",      "th",     "tr",   "tbody",
      "thead",  "tfoot",  "table",    "template", "caption", "select", "a",    "form",
      "button", "option", "optgroup", "ol",       "ul",      "svg",    "math", "address",
      "div",    "h1",     "h2",       "h3",       "h4",      "h5",     "h6"};

  struct NameInfo {
    unsigned kind = 0;
    int id = -1;  // known names have an id: Id for the tracked ones, then the others
  };

  // Every name the pre-filter knows, looked up with a cheap hash (a
  // std::unordered_map lookup was a tenth of the pre-filter's time).
  class NameTable {
   public:
    NameTable() {
      for (int id = 0; id < kTracked; ++id) Add(kTrackedNames[id], 0);
      auto add = [this](unsigned kind, std::initializer_list<std::string_view> names) {
        for (std::string_view n : names) Add(n, kind);
      };
      add(kVoid,
          {"area", "base",  "basefont", "bgsound", "br",       "col",  "embed", "frame",  "hr",    "image",
           "img",  "input", "keygen",   "link",    "menuitem", "meta", "param", "source", "track", "wbr"});
      add(kBreakoutVoid, {"br", "embed", "hr", "img", "meta"});
      add(kFormatting,
          {"b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"});
      add(kHeading | kClosesP | kSpecial, {"h1", "h2", "h3", "h4", "h5", "h6"});
      add(kClosesP, {"address", "article", "aside",   "blockquote", "center",     "details", "dialog",
                     "dir",     "div",     "dl",      "fieldset",   "figcaption", "figure",  "footer",
                     "header",  "hgroup",  "main",    "menu",       "nav",        "ol",      "p",
                     "search",  "section", "summary", "ul",         "pre",        "listing", "form",
                     "li",      "dd",      "dt",      "plaintext",  "xmp",        "hr"});
      add(kSpecial,
          {"address",    "applet",   "area",     "article",  "aside",   "base",     "basefont",  "bgsound",
           "blockquote", "body",     "br",       "button",   "caption", "center",   "col",       "colgroup",
           "dd",         "details",  "dir",      "div",      "dl",      "dt",       "embed",     "fieldset",
           "figcaption", "figure",   "footer",   "form",     "frame",   "frameset", "head",      "header",
           "hgroup",     "hr",       "html",     "iframe",   "img",     "input",    "keygen",    "li",
           "link",       "listing",  "main",     "marquee",  "menu",    "meta",     "nav",       "noembed",
           "noframes",   "noscript", "object",   "ol",       "p",       "param",    "plaintext", "pre",
           "script",     "search",   "section",  "select",   "source",  "style",    "summary",   "table",
           "tbody",      "td",       "template", "textarea", "tfoot",   "th",       "thead",     "title",
           "tr",         "track",    "ul",       "wbr",      "xmp"});
      add(kBoundary, {"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"});
      add(kTablePart, {"table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup"});
      add(kRawDropped, {"script", "style", "title", "iframe", "noembed", "noframes"});
      add(kRawText, {"xmp", "textarea", "plaintext", "noscript", "iframe", "noembed", "noframes", "title",
                     "style", "script"});
      add(kInline, {"b",      "big",  "code", "em",    "font", "i",   "nobr", "s",    "small", "strike",
                    "strong", "tt",   "u",    "span",  "sub",  "sup", "abbr", "cite", "var",   "kbd",
                    "samp",   "mark", "dfn",  "label", "time", "q",   "bdi",  "bdo"});
    }

    NameInfo Find(std::string_view name) const {
      for (size_t i = Hash(name);; i = (i + 1) & (kSlots - 1)) {
        const Slot& slot = slots_[i];
        if (slot.name.empty()) return {};
        if (slot.name == name) return slot.info;
      }
    }
    int count() const { return count_; }

   private:
    static constexpr size_t kSlots = 512;  // a power of two, over twice the names
    struct Slot {
      std::string_view name;
      NameInfo info;
    };
    static size_t Hash(std::string_view name) {
      uint32_t h = 2166136261u;
      for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
      return h & (kSlots - 1);
    }
    void Add(std::string_view name, unsigned kind) {
      for (size_t i = Hash(name);; i = (i + 1) & (kSlots - 1)) {
        Slot& slot = slots_[i];
        if (slot.name.empty()) {
          slot = {name, {kind, count_++}};
          return;
        }
        if (slot.name == name) {
          slot.info.kind |= kind;
          return;
        }
      }
    }
    Slot slots_[kSlots];
    int count_ = 0;
  };

  static const NameTable& Names() {
    static const NameTable table;
    return table;
  }
  static NameInfo Lookup(std::string_view name) { return Names().Find(name); }

  enum class Scope { kDefault, kButton, kListItem, kTable };

  // Positions (in open_) of the elements of each kind, innermost last, so that
  // the scope questions take constant time.
  struct Positions {
    std::vector<size_t> boundary, button, list, table, table_part, special, special_strict;
  };

  static long Top(const std::vector<size_t>& v) { return v.empty() ? -1 : static_cast<long>(v.back()); }
  long TopOf(Id id) const { return Top(by_id_[id]); }
  long TopOf(std::string_view name, NameInfo info) const {
    if (info.id >= 0) return Top(by_id_[static_cast<size_t>(info.id)]);
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? -1 : Top(it->second);
  }

  // Where the innermost element `at` (-1: none) is when it is in `scope`, or -1.
  long InScope(long at, Scope scope) const {
    if (at < 0) return -1;
    long bound = -1;
    switch (scope) {
      case Scope::kTable:
        bound = Top(pos_.table);
        break;
      case Scope::kButton:
        bound = std::max(Top(pos_.boundary), Top(pos_.button));
        break;
      case Scope::kListItem:
        bound = std::max(Top(pos_.boundary), Top(pos_.list));
        break;
      case Scope::kDefault:
        bound = Top(pos_.boundary);
        break;
    }
    return at >= bound ? at : -1;
  }

  // Names are compared as views below (and in StartTag, EndTag, Pop): a view
  // compared with a literal costs no strlen, and no memcmp when the sizes
  // differ, and every tag meets a few dozen such comparisons.
  void Push(std::string_view name, Emitted emitted, NameInfo info) {
    const size_t at = open_.size();
    const unsigned kind = info.kind;
    const int id = info.id;
    if ((kind & kBoundary) != 0) pos_.boundary.push_back(at);
    if (id == kButton) pos_.button.push_back(at);
    if (id == kOl || id == kUl) pos_.list.push_back(at);
    if (id == kTable || id == kTemplate) pos_.table.push_back(at);
    if ((kind & kTablePart) != 0 || id == kTemplate) pos_.table_part.push_back(at);
    if ((kind & kSpecial) != 0) pos_.special.push_back(at);
    if ((kind & kSpecial) != 0 && id != kAddress && id != kDiv && id != kP) pos_.special_strict.push_back(at);
    if (id == kSvg || id == kMath) ++foreign_;
    if ((kind & kRawText) != 0) ++raw_open_;
    if (id >= 0) {
      by_id_[static_cast<size_t>(id)].push_back(at);
    } else {
      by_name_[std::string(name)].push_back(at);
    }
    open_.push_back({std::string(name), emitted, kind, id});
  }

  void Pop() {
    const size_t at = open_.size() - 1;
    for (std::vector<size_t>* v : {&pos_.boundary, &pos_.button, &pos_.list, &pos_.table, &pos_.table_part,
                                   &pos_.special, &pos_.special_strict}) {
      if (!v->empty() && v->back() == at) v->pop_back();
    }
    const Open& top = open_.back();
    if (top.id == kSvg || top.id == kMath) --foreign_;
    if ((top.kind & kRawText) != 0) --raw_open_;
    if (top.id >= 0) {
      by_id_[static_cast<size_t>(top.id)].pop_back();
    } else {
      auto it = by_name_.find(top.name);
      it->second.pop_back();
      // An emptied entry is kept for the next element of that name (mis-nested
      // markup opens and closes the same few names over and over: erasing would
      // cost two allocations each time), unless there are many names.
      if (it->second.empty() && by_name_.size() > kMaxKeptNames) by_name_.erase(it);
    }
    switch (top.emitted) {
      case Emitted::kName:
        WriteEndTag(top.name);
        break;
      case Emitted::kSpan:
        WriteEndTag("span");
        break;
      case Emitted::kBlockCharacter:
        pending_ += kBlock;
        --open_markers_;
        break;
      case Emitted::kParaCharacter:
        pending_ += kPara;
        --open_markers_;
        break;
    }
    open_.pop_back();
  }

  // Writes end tags for the elements from the innermost down to position `at`.
  void CloseTo(long at) {
    while (at >= 0 && open_.size() > static_cast<size_t>(at)) Pop();
  }

  // Handles the markup at html_[lt] == '<'; returns where the text goes on.
  size_t Markup(size_t lt) {
    const std::string_view rest = html_.substr(lt);
    if (rest.starts_with("<!--")) return CommentEnd(lt + 4);
    if (rest.size() >= 2 && (rest[1] == '!' || rest[1] == '?')) {
      const size_t gt = html_.find('>', lt + 2);
      const size_t end = gt == npos ? html_.size() : gt + 1;
      if (rest.size() >= 9 && internal::EqualsNoCase(rest.substr(0, 9), "<!doctype")) {
        // Gumbo reads the quirks mode from it; nothing inside a doctype is markup.
        FlushText();
        doctype_ = true;
        out_ += "<!DOCTYPE";
        WriteMarkup(html_.substr(lt + 9, (gt == npos ? html_.size() : gt) - lt - 9));
        out_ += '>';
      }
      return end;  // other markup declarations and processing instructions are bogus comments
    }
    const bool closing = rest.size() >= 2 && rest[1] == '/';
    const size_t name_start = lt + (closing ? 2 : 1);
    if (name_start >= html_.size() || !IsAlpha(html_[name_start])) {
      if (closing && name_start < html_.size()) {  // "</>" is nothing, "</3 ...>" a bogus comment
        const size_t gt = html_.find('>', name_start);
        return gt == npos ? html_.size() : gt + 1;
      }
      pending_ += '<';
      return lt + 1;
    }
    ReadTag(name_start, closing);
    if (!tag_.complete) return html_.size();  // a tag cut by the end of the input is no tag
    if (closing) {
      EndTag();
    } else {
      return StartTag();
    }
    return tag_.end;
  }

  // Comments are never shown: dropped (ends as the HTML standard says: "-->",
  // "--!>", or at once for "<!-->" and "<!--->").
  size_t CommentEnd(size_t from) {
    if (html_.substr(from).starts_with(">")) return from + 1;
    if (html_.substr(from).starts_with("->")) return from + 2;
    for (size_t i = html_.find("--", from); i != npos; i = html_.find("--", i + 1)) {
      if (html_.substr(i + 2).starts_with(">")) return i + 3;
      if (html_.substr(i + 2).starts_with("!>")) return i + 4;
    }
    return html_.size();
  }

  // Reads the tag whose name starts at `from` into tag_, attributes as the
  // HTML tokenizer reads them.
  void ReadTag(size_t from, bool closing) {
    tag_.closing = closing;
    tag_.self_closing = false;
    tag_.complete = false;
    tag_.attributes.clear();
    size_t i = from;
    while (i < html_.size() && !IsTagSpace(html_[i]) && html_[i] != '/' && html_[i] != '>') ++i;
    tag_.name = AsciiLower(html_.substr(from, i - from));
    const size_t n = html_.size();
    while (i < n) {
      const char c = html_[i];
      if (IsTagSpace(c)) {
        ++i;
      } else if (c == '>') {
        tag_.end = i + 1;
        tag_.complete = true;
        return;
      } else if (c == '/') {
        ++i;
        if (i < n && html_[i] == '>') tag_.self_closing = true;
      } else {
        // An attribute name (a leading '=' belongs to it), then maybe a value.
        const size_t name_start = i;
        ++i;
        while (i < n && !IsTagSpace(html_[i]) && html_[i] != '/' && html_[i] != '>' && html_[i] != '=') ++i;
        const std::string_view name = html_.substr(name_start, i - name_start);
        size_t j = i;
        while (j < n && IsTagSpace(html_[j])) ++j;
        std::string_view value;
        if (j < n && html_[j] == '=') {
          ++j;
          while (j < n && IsTagSpace(html_[j])) ++j;
          if (j < n && (html_[j] == '"' || html_[j] == '\'')) {
            const size_t close = html_.find(html_[j], j + 1);
            if (close == npos) return;  // the end of the input inside a value: no tag
            value = html_.substr(j + 1, close - j - 1);
            j = close + 1;
          } else {
            const size_t value_start = j;
            while (j < n && !IsTagSpace(html_[j]) && html_[j] != '>') ++j;
            value = html_.substr(value_start, j - value_start);
          }
          i = j;
        }
        if (tag_.attributes.size() < kMaxAttributes && RenderedAttribute(name, value)) {
          tag_.attributes.emplace_back(name, value);
        }
      }
    }
  }

  // Whether the renderer reads the attribute: Gumbo need not see the others
  // (newsletters' style attributes are most of their bytes).
  static bool RenderedAttribute(std::string_view name, std::string_view value) {
    auto is = [name](std::string_view n) { return internal::EqualsNoCase(name, n); };
    auto has = [value](std::string_view part) { return value.find(part) != npos; };
    if (is("href") || is("type") || is("start") || is("hidden")) return true;
    if (is("class")) return has("gmail_quote") || has("moz-cite-prefix") || has("yahoo_quoted") || has("Mso");
    if (is("id"))
      return has("OLK_SRC_BODY_SECTION") || has("appendonsend") || has("stopSpelling") ||
             has("divRplyFwdMsg");
    if (is("style")) {
      std::string compact;
      for (char c : value) {
        if (!IsTagSpace(c)) compact += c;
      }
      compact = AsciiLower(compact);
      // A reference could spell any of it: such a style is kept as it is.
      return compact.find('&') != npos || compact.find("display:none") != npos ||
             compact.find("visibility:hidden") != npos || compact.find("mso-hide:all") != npos;
    }
    return false;
  }

  // "<name attr="value" ...>" with the kept attributes, values re-quoted.
  void WriteStartTag(std::string_view name) {
    FlushText();
    out_ += '<';
    WriteMarkup(name);
    for (const auto& [attribute, raw_value] : tag_.attributes) {
      out_ += ' ';
      WriteMarkup(attribute);
      std::string_view value = raw_value;
      out_ += "=\"";
      for (size_t quote = value.find('"'); quote != npos; quote = value.find('"')) {
        WriteMarkup(value.substr(0, quote));
        out_ += "&quot;";
        value.remove_prefix(quote + 1);
      }
      WriteMarkup(value);
      out_ += '"';
    }
    out_ += '>';
  }

  // Writes a part of a tag or doctype. Where Gumbo reads raw text that the
  // pre-filter did not expect (in <noscript>, <iframe>, ...), markup is text,
  // and every character of planes 15 and 16 in Gumbo's text must be a
  // placeholder: the input's own become U+FFFD here (noncharacters aside,
  // which Gumbo replaces itself).
  void WriteMarkup(std::string_view markup) {
    size_t copied = 0;
    for (size_t i = 0; i + 3 < markup.size(); ++i) {
      if (static_cast<unsigned char>(markup[i]) < 0xF3 || !IsPlane15Or16(markup[i], markup[i + 1]) ||
          (FourByteCodePoint(markup, i) & 0xFFFE) == 0xFFFE) {
        continue;
      }
      out_.append(markup.substr(copied, i - copied));
      out_ += "\xEF\xBF\xBD";
      i += 3;
      copied = i + 1;
    }
    out_.append(markup.substr(copied));
  }

  // Text that must stay text whatever Gumbo's tokenizer state: '<' escaped
  // and, for raw text (where Gumbo would not decode references), '&' too;
  // characters of planes 15 and 16 hidden (Gumbo may only see placeholders there).
  void WriteEscaped(std::string_view text, bool raw) {
    FlushText();
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '<') {
        out_ += "&lt;";
      } else if (c == '&' && raw) {
        out_ += "&amp;";
      } else if (static_cast<unsigned char>(c) >= 0xF3 && i + 3 < text.size() &&
                 IsPlane15Or16(c, text[i + 1]) && (FourByteCodePoint(text, i) & 0xFFFE) != 0xFFFE) {
        // Noncharacters are left to Gumbo, which replaces them as it does elsewhere.
        Hide(text.substr(i, 4));
        i += 3;
      } else {
        out_ += c;
      }
    }
  }

  // Offset of "</name" followed by a tag-ending character at or after `from`
  // (any case), or npos.
  size_t RawTextClose(size_t from, std::string_view name) const {
    for (size_t i = html_.find("</", from); i != npos; i = html_.find("</", i + 2)) {
      const size_t after = i + 2 + name.size();
      if (after > html_.size() || !internal::EqualsNoCase(html_.substr(i + 2, name.size()), name)) continue;
      if (after == html_.size() || IsTagSpace(html_[after]) || html_[after] == '/' || html_[after] == '>') {
        return i;
      }
    }
    return npos;
  }

  // Where the text goes on after the end tag at `close` (npos: the end).
  size_t AfterRawText(size_t close) {
    if (close == npos) return html_.size();
    ReadTag(close + 2, /*closing=*/true);
    return tag_.complete ? tag_.end : html_.size();
  }

  void WriteEndTag(std::string_view name) {
    FlushText();
    out_ += "</";
    WriteMarkup(name);
    out_ += '>';
  }

  long Innermost() const { return static_cast<long>(open_.size()) - 1; }

  // Closes what the start tag `name` implies is finished, as the tree
  // builder does for the end tags HTML lets authors leave out.
  void ImpliedEnds(NameInfo info) {
    const int id = info.id;
    const unsigned kind = info.kind;
    if (id == kLi) {
      const long li = TopOf(kLi);
      if (li >= 0 && li >= Top(pos_.special_strict)) CloseTo(li);
    } else if (id == kDd || id == kDt) {
      const long item = std::max(TopOf(kDd), TopOf(kDt));
      if (item >= 0 && item >= Top(pos_.special_strict)) CloseTo(item);
    } else if (id == kTd || id == kTh) {
      const long cell = std::max(TopOf(kTd), TopOf(kTh));
      const long row = std::max({TopOf(kTr), Top(pos_.table), TopOf(kTbody), TopOf(kThead), TopOf(kTfoot)});
      if (cell > row) CloseTo(cell);
    } else if (id == kTr) {
      const long row = TopOf(kTr);
      if (row > std::max({Top(pos_.table), TopOf(kTbody), TopOf(kThead), TopOf(kTfoot)})) CloseTo(row);
    } else if (id == kTbody || id == kThead || id == kTfoot) {
      const long table = Top(pos_.table);
      if (TopOf(kTr) > table) CloseTo(TopOf(kTr));
      const long section = std::max({TopOf(kTbody), TopOf(kThead), TopOf(kTfoot)});
      if (section > table) CloseTo(section);
    } else if (id == kOption || id == kOptgroup) {
      if (!open_.empty() && open_.back().id == kOption) CloseTo(Innermost());
      if (id == kOptgroup && !open_.empty() && open_.back().id == kOptgroup) CloseTo(Innermost());
    } else if (id == kButton) {
      CloseTo(InScope(TopOf(kButton), Scope::kDefault));
    }
    if ((kind & kClosesP) != 0) CloseTo(InScope(TopOf(kP), Scope::kButton));
    if ((kind & kHeading) != 0 && !open_.empty() && (open_.back().kind & kHeading) != 0) CloseTo(Innermost());
  }

  // Returns where the text goes on.
  size_t StartTag() {
    // A view of tag_.name: tag_ is read again for the end of raw text, after the name's last use.
    const std::string_view name = tag_.name;
    const NameInfo info = Lookup(name);
    const unsigned kind = info.kind;
    const size_t next = tag_.end;
    if (name == "html" || name == "head" || name == "body") {
      // Gumbo opens each once (later ones only add attributes); they do not count.
      bool& seen = name == "html" ? seen_html_ : name == "head" ? seen_head_ : seen_body_;
      if (!seen) WriteStartTag(name);
      seen = true;
      return next;
    }
    if (foreign_ == 0) {
      // Raw text: its content is never markup. What is never shown is dropped;
      // the rest becomes escaped text, whatever Gumbo's insertion mode.
      if ((kind & kRawDropped) != 0) {
        const size_t close = RawTextClose(next, name);
        if (open_.size() < kMaxTagDepth) {
          WriteStartTag(name);
          WriteEndTag(name);
        }
        return AfterRawText(close);
      }
      if (name == "textarea" || name == "xmp") {
        ImpliedEnds(info);
        const size_t close = RawTextClose(next, name);
        const std::string_view content = html_.substr(next, (close == npos ? html_.size() : close) - next);
        if (name == "textarea" && open_.size() < kMaxTagDepth) {
          WriteStartTag(name);
          WriteEscaped(content, /*raw=*/false);
          WriteEndTag(name);
        } else {
          WriteEscaped(content, /*raw=*/name == "xmp");
        }
        return AfterRawText(close);
      }
      if (name == "plaintext") {
        ImpliedEnds(info);
        WriteEscaped(html_.substr(next), /*raw=*/true);
        return html_.size();
      }
    }
    if (name == "frameset") frameset_ = true;
    // Start tags the tree builder ignores where they are, but the pre-filter
    // counts (its stack is no longer the tree builder's): parts of a table
    // outside one, a form in a form; and the obsolete <isindex>, which ends a
    // <p> in the tree builder only.
    if (foreign_ == 0 && (((kind & kTablePart) != 0 && name != "table" && Top(pos_.table) < 0) ||
                          (info.id == kForm && TopOf(kForm) >= 0) || name == "isindex")) {
      diverged_ = true;
      // An open element written as a character may now be ended by the tree
      // builder at another place than the pre-filter's: filtered again without them.
      if (open_markers_ > 0) restart_ = true;
    }
    // The same in SVG and MathML, whose rules the pre-filter knows less well.
    if (foreign_ == 0 && (info.id == kSvg || info.id == kMath) && open_markers_ > 0) restart_ = true;
    const bool inline_dropped = (kind & kInline) != 0 && tag_.attributes.empty();
    if ((kind & kVoid) == 0 && !inline_dropped &&
        (open_.size() >= kMaxTagDepth || (info.id == kA && open_.size() >= kMaxLinkDepth))) {
      // Too deep: dropped, and with it what it would have closed (a list item
      // at the limit would otherwise replace its sibling there, one by one).
      return next;
    }
    ImpliedEnds(info);
    if (name == "br" && foreign_ == 0 && tag_.attributes.empty()) {
      pending_ += kBreak;
      seen_text_ = true;
      return next;
    }
    if ((kind & kVoid) != 0) {
      WriteStartTag(name);
      // In SVG and MathML these are ordinary elements that Gumbo would keep open.
      if (foreign_ > 0 && (kind & kBreakoutVoid) == 0) WriteEndTag(name);
      return next;
    }
    // Inline elements the renderer would see nothing of cost Gumbo as much as any.
    if (inline_dropped) return next;
    if ((info.id == kDiv || (info.id == kP && !doctype_)) && tag_.attributes.empty() && DivIsText()) {
      // Its end is written as the same character.
      const bool div = info.id == kDiv;
      ++open_markers_;
      pending_ += div ? kBlock : kPara;
      Push(name, div ? Emitted::kBlockCharacter : Emitted::kParaCharacter, info);
      return next;
    }
    const bool formatting = (kind & kFormatting) != 0;
    const std::string_view emitted = formatting ? std::string_view("span") : name;
    WriteStartTag(emitted);
    if (tag_.self_closing && (foreign_ > 0 || info.id == kSvg || info.id == kMath)) {
      // Self-closing only means something in SVG and MathML; an explicit end
      // tag ends the element in every insertion mode.
      WriteEndTag(emitted);
      return next;
    }
    if (formatting) {
      static const unsigned span_kind = Lookup("span").kind;
      Push(name, Emitted::kSpan, NameInfo{span_kind, info.id});
    } else {
      Push(name, Emitted::kName, info);
    }
    return next;
  }

  void EndTag() {
    const std::string_view name = tag_.name;
    const NameInfo info = Lookup(name);
    const unsigned kind = info.kind;
    if (name == "html" || name == "body" || name == "head") return;  // Gumbo closes nothing for them
    if (name == "br") {
      // What the tree builder makes of </br>.
      if (foreign_ == 0) {
        pending_ += kBreak;
      } else {
        FlushText();
        out_ += "<br>";
      }
    } else if (name == "p") {
      const long p = InScope(TopOf(kP), Scope::kButton);
      if (p >= 0) {
        CloseTo(p);
      } else if (DivIsText()) {
        pending_ += kPara;  // an empty paragraph, as in a browser
        pending_ += kPara;
      } else {
        FlushText();
        out_ += "</p>";  // an empty paragraph, as in a browser
      }
    } else if ((kind & kVoid) != 0) {
      // nothing to close
    } else if (name == "li") {
      CloseTo(InScope(TopOf(kLi), Scope::kListItem));
    } else if ((kind & kHeading) != 0) {
      long heading = -1;
      for (Id h : {kH1, kH2, kH3, kH4, kH5, kH6}) heading = std::max(heading, TopOf(h));
      if (heading >= 0 && heading >= Top(pos_.boundary)) CloseTo(heading);
    } else if ((kind & kTablePart) != 0) {
      CloseTo(InScope(TopOf(name, info), Scope::kTable));
    } else if ((kind & kSpecial) != 0) {
      CloseTo(InScope(TopOf(name, info), Scope::kDefault));
    } else {
      // Inline and unknown elements: closed unless a block is open inside them.
      const long at = TopOf(name, info);
      if (at >= 0 && at > Top(pos_.special)) CloseTo(at);
    }
  }

  std::string_view html_;
  std::string out_;
  std::string pending_;  // text not yet written (see FlushText)
  HiddenText hidden_;
  bool frameset_ = false;   // a <frameset> was seen: Gumbo drops text but its whitespace
  bool seen_text_ = false;  // text other than whitespace was seen
  bool diverged_ = false;   // see StartTag
  const bool markers_;
  int open_markers_ = 0;  // open elements written as characters
  bool restart_ = false;
  bool doctype_ = false;  // a doctype was seen (the document may be in no-quirks mode)
  int raw_open_ = 0;      // open elements whose content Gumbo would read as raw text
  std::vector<Open> open_;
  // Names with an empty entry in by_name_ are kept up to this many entries.
  static constexpr size_t kMaxKeptNames = 64;
  std::unordered_map<std::string, std::vector<size_t>> by_name_;  // names without an id
  std::vector<std::vector<size_t>> by_id_ = std::vector<std::vector<size_t>>(Names().count());
  Positions pos_;
  Tag tag_;
  int foreign_ = 0;  // open svg and math elements
  bool seen_html_ = false, seen_head_ = false, seen_body_ = false;
};

// --- the text writer ---

// Accumulates text lines: collapses whitespace, separates blocks, writes each
// line's prefix ("> " for quotes, list indentation) when the line starts.
class Writer {
 public:
  // Inline text: runs of HTML whitespace collapse to one space; no-break
  // spaces stay (as plain spaces).
  // The line break, block or paragraph marker at s[i], if there is one: it is
  // written out and i moved to its last byte.
  bool Marker(std::string_view s, size_t& i) {
    const char c = s[i];
    if (c == kBreak[0] && IsBreakAt(s, i)) {
      LineBreak();
      i += kBreak.size() - 1;
    } else if (c == kBlock[0] && IsBlockAt(s, i)) {
      Block(false);
      i += kBlock.size() - 1;
    } else if (c == kPara[0] && IsParaAt(s, i)) {
      Block(true);
      i += kPara.size() - 1;
    } else {
      return false;
    }
    return true;
  }

  void Text(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (IsHtmlSpace(c)) {
        space_ = true;
      } else if (c == '\xC2' && i + 1 < s.size() && s[i + 1] == '\xA0') {
        Put(" ");
        ++i;
      } else if (Marker(s, i)) {
      } else {
        Put(std::string_view(&s[i], 1));
      }
    }
  }

  // Preformatted text: every space and line break as written.
  void Verbatim(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '\n') {
        LineBreak();
      } else if (Marker(s, i)) {
      } else if (c != '\r') {
        space_ = false;
        Put(std::string_view(&c, 1));
      }
    }
  }

  // A string written as one piece (list markers, joined table cells).
  void Word(std::string_view s) { Put(s); }

  void LineBreak() {
    if (out_.empty() && pending_ == 0) return;
    Request(std::min(pending_ + 1, 2));
  }

  // Ends the current line; with `blank` also leaves one blank line.
  void Block(bool blank) {
    if (out_.empty()) return;
    Request(std::max(pending_, blank ? 2 : 1));
  }

  void PushPrefix(std::string_view p) {
    prefix_sizes_.push_back(prefix_.size());
    prefix_ += p;
  }
  void PopPrefix() {
    prefix_.resize(prefix_sizes_.back());
    prefix_sizes_.pop_back();
  }

  // Quotes every line from here on (Outlook's reply header ends the reply).
  void QuoteRest() {
    Block(false);
    quote_rest_ = true;
  }
  bool quoting_rest() const { return quote_rest_; }

  // Where the next content will go.
  size_t Mark() const { return out_.size(); }

  explicit Writer(size_t max_bytes) : max_bytes_(max_bytes) {}

  // True when text was dropped because the output reached its limit.
  bool truncated() const { return truncated_; }
  void MarkTruncated() { truncated_ = true; }
  bool full() const { return truncated_; }
  // Bytes the text may still take.
  size_t room() const { return max_bytes_ - std::min(max_bytes_, out_.size()); }

  // The text, with runs of blank lines (also lines holding only spaces or a
  // quote prefix) cut to one.
  std::string Finish() {
    // A last piece (a joined table row) may have gone over the limit.
    if (truncated_ || out_.size() > max_bytes_) {
      truncated_ = true;
      out_.resize(CutUtf8(out_, max_bytes_).size());
    }
    std::string text;
    text.reserve(out_.size());
    std::string_view previous_blank;
    bool have_previous = false;
    size_t pos = 0;
    while (pos < out_.size()) {
      size_t eol = out_.find('\n', pos);
      if (eol == npos) eol = out_.size();
      std::string_view line = RightTrimmed(std::string_view(out_).substr(pos, eol - pos));
      const bool blank = std::all_of(line.begin(), line.end(), [](char c) { return c == '>' || c == ' '; });
      if (blank) line = RightTrimmed(line.substr(0, line.find_last_of('>') + 1));
      if (!(blank && have_previous && line == previous_blank)) {
        text += line;
        text += '\n';
      }
      have_previous = blank;
      previous_blank = line;
      pos = eol + 1;
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
    size_t start = 0;
    while (start < text.size() && text[start] == '\n') ++start;
    return text.substr(start);
  }

  const std::string& text() const { return out_; }

 private:
  // The prefix of the next line, without a copy when no quoting is added:
  // nested lists give every line hundreds of bytes of prefix.
  const std::string& Prefix() {
    if (!quote_rest_) return prefix_;
    quoted_prefix_.assign("> ");
    quoted_prefix_ += prefix_;
    return quoted_prefix_;
  }

  static std::string_view RightTrimmed(std::string_view s) {
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  }

  void Request(int newlines) {
    if (!Room()) return;  // what follows is dropped anyway: do not copy prefixes for it
    if (pending_ == 0) blank_prefix_ = Prefix();
    pending_ = newlines;
    space_ = false;
  }

  // False (and the text marked truncated) once the output is full; the
  // caller writes nothing then. A little more than the limit is let in,
  // so that Finish cuts at a character boundary.
  bool Room() {
    if (out_.size() < max_bytes_) return true;
    truncated_ = true;
    return false;
  }

  void EndLine() {
    if (!Room()) return;
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
    out_ += '\n';
  }

  void Put(std::string_view content) {
    if (!Room()) return;
    if (pending_ == 0 && line_started_) {
      if (space_) out_ += ' ';
      space_ = false;
      out_ += content;
      return;
    }
    const std::string& prefix = Prefix();
    if (pending_ > 0) {
      // Blank lines take the shorter prefix: a quote starting or ending does not own them.
      const std::string_view blank =
          RightTrimmed(blank_prefix_.size() < prefix.size() ? blank_prefix_ : prefix);
      for (int k = 0; k < pending_; ++k) {
        EndLine();
        if (k + 1 < pending_) out_ += blank;
      }
      pending_ = 0;
      line_started_ = false;
    }
    if (!line_started_) {
      out_ += prefix;
      line_started_ = true;
      space_ = false;
    }
    if (space_) out_ += ' ';
    space_ = false;
    out_ += content;
  }

  std::string out_;
  std::string prefix_;
  std::string quoted_prefix_;  // "> " + prefix_, rebuilt by Prefix() when quoting the rest
  std::vector<size_t> prefix_sizes_;
  std::string blank_prefix_;
  int pending_ = 0;            // line breaks to write before the next content
  bool space_ = false;         // collapsed whitespace to write before the next content
  bool line_started_ = false;  // the current line has its prefix
  bool quote_rest_ = false;
  bool truncated_ = false;
  size_t max_bytes_;
};

// --- Gumbo's memory ---

// All of one parse's memory: Gumbo allocates and frees many small blocks (a
// node, a vector, a string buffer per token), which glibc's malloc serves
// slowly (it was half of the time on tag-dense HTML). Here freed blocks go to
// a free list per size class and are reused; everything is returned at once
// when the arena dies, so the tree is never freed node by node: freeing cannot
// recurse, however deep the tree.
class GumboArena {
 public:
  GumboArena() = default;
  GumboArena(const GumboArena&) = delete;
  GumboArena& operator=(const GumboArena&) = delete;
  ~GumboArena() {
    for (char* block : blocks_) {
      if (block_sizes_[block] != kBlockBytes || !KeepBlock(block)) UnmapBlock(block, block_sizes_[block]);
    }
    while (large_ != nullptr) {
      LargeHeader* next = large_->next;
      std::free(large_);
      large_ = next;
    }
  }

  // What the process keeps for its next parses.
  static size_t KeptBytes() {
    KeptBlocks& kept = Kept();
    std::lock_guard lock(kept.mutex);
    return kept.blocks.size() * kBlockBytes;
  }

  static void* Allocate(void* self, size_t size) { return static_cast<GumboArena*>(self)->Get(size); }
  static void Deallocate(void* self, void* p) {
    if (p != nullptr) static_cast<GumboArena*>(self)->Put(p);
  }

 private:
  // Every block starts with 16 bytes whose last 8 hold its class; large
  // blocks (malloc'd one by one) are also on a doubly linked list.
  static constexpr size_t kHeader = 16;
  static constexpr size_t kStep = 16;  // classes 1..64: up to 1 KiB in 16-byte steps
  static constexpr size_t kFineClasses = 64;
  static constexpr size_t kClasses = kFineClasses + 11;  // then powers of two up to 1 MiB
  static constexpr uint64_t kLarge = ~uint64_t{0};
  static constexpr size_t kBlockBytes = size_t{2} << 20;  // a huge page
  static constexpr size_t kKeptBlocks = 2;

  struct LargeHeader {
    LargeHeader* prev;
    LargeHeader* next;
    uint64_t pad;
    uint64_t cls;
  };
  static_assert(sizeof(LargeHeader) % 16 == 0);

  static size_t ClassOf(size_t total) {
    if (total <= kFineClasses * kStep) return (total + kStep - 1) / kStep;
    size_t cls = kFineClasses + 1;
    for (size_t bytes = 2 * kFineClasses * kStep; bytes < total; bytes *= 2) ++cls;
    return cls;
  }
  static size_t BytesOf(size_t cls) {
    return cls <= kFineClasses ? cls * kStep : (kFineClasses * kStep) << (cls - kFineClasses);
  }

  void* Get(size_t size) {
    const size_t total = size + kHeader;
    const size_t cls = ClassOf(total);
    if (cls >= kClasses) {
      auto* h = static_cast<LargeHeader*>(std::malloc(sizeof(LargeHeader) + size));
      if (h == nullptr) std::abort();  // Gumbo cannot handle a failed allocation
      h->prev = nullptr;
      h->next = large_;
      h->cls = kLarge;
      if (large_ != nullptr) large_->prev = h;
      large_ = h;
      return h + 1;
    }
    char* block = nullptr;
    if (free_[cls] != nullptr) {
      block = free_[cls];
      std::memcpy(&free_[cls], block, sizeof(char*));
    } else {
      const size_t bytes = BytesOf(cls);
      if (static_cast<size_t>(limit_ - cursor_) < bytes) NewBlock(bytes);
      block = cursor_;
      cursor_ += bytes;
    }
    const uint64_t c = cls;
    std::memcpy(block + kHeader - sizeof c, &c, sizeof c);
    return block + kHeader;
  }

  // Blocks come straight from the kernel, aligned so that it can back them
  // with huge pages: a page fault per 2 MiB instead of per 4 KiB (faults were
  // a quarter of the time, and cost most in a virtual machine).
  static char* MapBlock(size_t bytes) {
    const size_t span = bytes + kBlockBytes;
    void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();  // Gumbo cannot handle a failed allocation
    const auto start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (start + kBlockBytes - 1) & ~uintptr_t{kBlockBytes - 1};
    if (aligned > start) munmap(p, aligned - start);
    if (aligned + bytes < start + span) {
      munmap(reinterpret_cast<void*>(aligned + bytes), start + span - aligned - bytes);
    }
    madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
    return reinterpret_cast<char*>(aligned);
  }
  static void UnmapBlock(char* block, size_t bytes) { munmap(block, bytes); }

  // Blocks kept for the next parses, by any thread: fresh memory costs a
  // page fault per page, a quarter of the time on this kind of work. At most
  // kKeptBlocks, shared by the process: a kept block stays resident (a whole
  // huge page), so a cache per thread kept 2 MiB per mailbox worker, and one
  // of eight blocks per thread followed the largest HTML each thread had
  // converted, which made a daemon's RSS creep up by 2 MiB steps over hours
  // (the soak, issue 10).
  struct KeptBlocks {
    std::mutex mutex;
    std::vector<char*> blocks;
  };
  static KeptBlocks& Kept() {
    static KeptBlocks* const kept =
        new KeptBlocks;  // never destroyed: a thread may parse while the process exits
    return *kept;
  }
  static bool KeepBlock(char* block) {
    KeptBlocks& kept = Kept();
    std::lock_guard lock(kept.mutex);
    if (kept.blocks.size() >= kKeptBlocks) return false;
    kept.blocks.push_back(block);
    return true;
  }
  static char* TakeKeptBlock() {
    KeptBlocks& kept = Kept();
    std::lock_guard lock(kept.mutex);
    if (kept.blocks.empty()) return nullptr;
    char* block = kept.blocks.back();
    kept.blocks.pop_back();
    return block;
  }

  void NewBlock(size_t bytes) {
    const size_t block_bytes = std::max(kBlockBytes, bytes);
    cursor_ = block_bytes == kBlockBytes ? TakeKeptBlock() : nullptr;
    if (cursor_ == nullptr) cursor_ = MapBlock(block_bytes);
    blocks_.push_back(cursor_);
    block_sizes_[cursor_] = block_bytes;
    limit_ = cursor_ + block_bytes;
  }

  void Put(void* p) {
    char* user = static_cast<char*>(p);
    uint64_t cls = 0;
    std::memcpy(&cls, user - sizeof cls, sizeof cls);
    if (cls == kLarge) {
      auto* h = reinterpret_cast<LargeHeader*>(user) - 1;
      if (h->prev != nullptr) h->prev->next = h->next;
      if (h->next != nullptr) h->next->prev = h->prev;
      if (large_ == h) large_ = h->next;
      std::free(h);
      return;
    }
    char* block = user - kHeader;
    std::memcpy(block, &free_[cls], sizeof(char*));
    free_[cls] = block;
  }

  char* free_[kClasses] = {};
  std::vector<char*> blocks_;
  std::unordered_map<char*, size_t> block_sizes_;
  char* cursor_ = nullptr;
  char* limit_ = nullptr;
  LargeHeader* large_ = nullptr;
};

// --- the renderer ---

std::string_view Attribute(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a == nullptr ? std::string_view() : std::string_view(a->value);
}

bool HasClass(const GumboElement& e, std::string_view wanted) {
  std::string_view classes = Attribute(e, "class");
  while (!classes.empty()) {
    while (!classes.empty() && IsHtmlSpace(classes.front())) classes.remove_prefix(1);
    size_t end = 0;
    while (end < classes.size() && !IsHtmlSpace(classes[end])) ++end;
    if (classes.substr(0, end) == wanted) return true;
    classes.remove_prefix(end);
  }
  return false;
}

bool IsHidden(const GumboElement& e) {
  if (e.attributes.length == 0)
    return false;  // most elements: the pre-filter drops the attributes we do not read
  if (gumbo_get_attribute(&e.attributes, "hidden") != nullptr) return true;
  const std::string_view style = Attribute(e, "style");
  if (style.empty()) return false;
  std::string compact;
  for (char c : style) {
    if (!IsHtmlSpace(c)) compact += c;
  }
  compact = AsciiLower(compact);
  return compact.find("display:none") != npos || compact.find("visibility:hidden") != npos ||
         compact.find("mso-hide:all") != npos;
}

bool IsSkipped(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_CANVAS:
    case GUMBO_TAG_AUDIO:
    case GUMBO_TAG_VIDEO:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_IMG:
      return true;
    default:
      return false;
  }
}

// Blocks a browser draws with a margin: separated by a blank line.
bool IsParagraph(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_DL:
      return true;
    default:
      return false;
  }
}

// Blocks without a margin: on their own lines.
bool IsLineBlock(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_HTML:
      return true;
    default:
      return false;
  }
}

// The text of a subtree, whitespace collapsed, without structure (iterative:
// used for link texts and for subtrees too deep to render); it stops once it
// is longer than `max_bytes` or has visited `max_nodes` nodes.
std::string FlatText(const GumboNode* root, const HiddenText& hidden, size_t max_bytes = npos,
                     size_t max_nodes = npos) {
  std::string out;
  bool space = false;
  std::vector<const GumboNode*> stack{root};
  size_t visited = 0;
  while (!stack.empty() && out.size() <= max_bytes && visited++ < max_nodes) {
    const GumboNode* node = stack.back();
    stack.pop_back();
    if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      const GumboElement& e = node->v.element;
      if (IsSkipped(e.tag) || IsHidden(e)) continue;
      if (e.tag == GUMBO_TAG_BR) space = true;
      for (unsigned k = e.children.length; k > 0; --k) {
        stack.push_back(static_cast<const GumboNode*>(e.children.data[k - 1]));
      }
    } else if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE ||
               node->type == GUMBO_NODE_CDATA) {
      hidden.ForEachPiece(node->v.text.text, [&](std::string_view text) {
        for (size_t i = 0; i < text.size(); ++i) {
          const char* p = &text[i];
          if (IsHtmlSpace(*p)) {
            space = true;
            continue;
          }
          if (*p == kBreak[0] && IsBreakAt(text, i)) {
            space = true;
            i += kBreak.size() - 1;
            continue;
          }
          if (*p == kBlock[0] && (IsBlockAt(text, i) || IsParaAt(text, i))) {  // a <div>, a <p>: nothing
            i += kBlock.size() - 1;
            continue;
          }
          if (space && !out.empty()) out += ' ';
          space = false;
          out += *p;
        }
      });
    }
  }
  return out;
}

// "https://example.com/" and "example.com" name the same place for our purpose.
std::string NormalizedUrl(std::string_view url) {
  std::string u = AsciiLower(url);
  for (std::string_view scheme : {"mailto:", "https://", "http://"}) {
    if (u.starts_with(scheme)) {
      u.erase(0, scheme.size());
      break;
    }
  }
  while (!u.empty() && (u.back() == '/' || IsHtmlSpace(u.back()))) u.pop_back();
  return u;
}

class Renderer {
 public:
  Renderer(Writer* writer, const HiddenText* hidden) : w_(writer), hidden_(hidden) {}

  void Render(const GumboNode* node, int depth) {
    // Once the text is full the rest of the tree is not walked: deeply nested
    // markup fills it with prefixes long before its end.
    if (w_->full()) return;
    switch (node->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        hidden_->ForEachPiece(node->v.text.text, [this](std::string_view text) {
          if (pre_ > 0) {
            w_->Verbatim(text);
          } else {
            w_->Text(text);
          }
        });
        return;
      case GUMBO_NODE_DOCUMENT:
        RenderChildren(node->v.document.children, depth);
        return;
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE:
        if (depth > kMaxRenderDepth) {
          w_->Text(FlatText(node, *hidden_));
          return;
        }
        RenderElement(node, depth);
        return;
      case GUMBO_NODE_COMMENT:
        return;
    }
  }

  // Output offset of the first client quote container, or npos.
  size_t quote_mark() const { return quote_mark_; }

 private:
  void RenderChildren(const GumboVector& children, int depth) {
    for (unsigned k = 0; k < children.length; ++k) {
      Render(static_cast<const GumboNode*>(children.data[k]), depth + 1);
    }
  }

  void MarkQuote() {
    if (quote_mark_ == npos) quote_mark_ = w_->Mark();
  }

  void RenderElement(const GumboNode* node, int depth) {
    const GumboElement& e = node->v.element;
    if (IsSkipped(e.tag) || IsHidden(e)) return;
    // Most elements have no attributes left: nothing to look up then.
    const bool attributes = e.attributes.length > 0;
    const std::string_view id = attributes ? Attribute(e, "id") : std::string_view();
    const bool cite =
        attributes && e.tag == GUMBO_TAG_BLOCKQUOTE && AsciiLower(Attribute(e, "type")) == "cite";
    if (attributes && (HasClass(e, "gmail_quote") || HasClass(e, "gmail_quote_container") ||
                       HasClass(e, "moz-cite-prefix") || cite)) {
      MarkQuote();
    }
    if (e.tag == GUMBO_TAG_BLOCKQUOTE || (attributes && HasClass(e, "yahoo_quoted")) ||
        id == "OLK_SRC_BODY_SECTION") {
      if (e.tag != GUMBO_TAG_BLOCKQUOTE) MarkQuote();
      w_->Block(true);
      w_->PushPrefix("> ");
      RenderChildren(e.children, depth);
      w_->PopPrefix();
      w_->Block(true);
      return;
    }
    if (id == "appendonsend") MarkQuote();                // Outlook: the quoted part follows
    if (e.tag == GUMBO_TAG_HR && id == "stopSpelling") {  // Outlook.com: the reply ends here
      MarkQuote();
      w_->Block(false);
      w_->Word(kRule);
      w_->QuoteRest();
      return;
    }
    if (id == "divRplyFwdMsg") {
      MarkQuote();
      w_->Block(false);
      RenderChildren(e.children, depth);
      w_->QuoteRest();
      return;
    }
    switch (e.tag) {
      case GUMBO_TAG_BR:
        w_->LineBreak();
        return;
      case GUMBO_TAG_HR:
        w_->Block(false);
        w_->Word(kRule);
        w_->Block(false);
        return;
      case GUMBO_TAG_PRE:
        w_->Block(true);
        ++pre_;
        RenderChildren(e.children, depth);
        --pre_;
        w_->Block(true);
        return;
      case GUMBO_TAG_UL:
      case GUMBO_TAG_OL:
        RenderList(e, depth);
        return;
      case GUMBO_TAG_LI:
        RenderItem(e, depth);
        return;
      case GUMBO_TAG_TABLE:
        RenderTable(e, depth);
        return;
      case GUMBO_TAG_A:
        RenderLink(node, depth);
        return;
      default:
        break;
    }
    if (IsParagraph(e.tag) || IsLineBlock(e.tag)) {
      // Outlook's paragraphs (class MsoNormal and kin) have no margin in its CSS.
      const bool blank = IsParagraph(e.tag) && !Attribute(e, "class").starts_with("Mso");
      w_->Block(blank);
      RenderChildren(e.children, depth);
      w_->Block(blank);
      return;
    }
    RenderChildren(e.children, depth);
  }

  void RenderList(const GumboElement& e, int depth) {
    const bool nested = !lists_.empty();
    w_->Block(!nested);
    int start = 1;
    if (e.tag == GUMBO_TAG_OL) {
      const std::string value(Attribute(e, "start"));
      if (!value.empty() && value.size() < 9 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        start = std::stoi(value);
      }
    }
    lists_.push_back({e.tag == GUMBO_TAG_OL, start});
    RenderChildren(e.children, depth);
    lists_.pop_back();
    w_->Block(!nested);
  }

  void RenderItem(const GumboElement& e, int depth) {
    w_->Block(false);
    std::string marker = "- ";
    if (!lists_.empty() && lists_.back().ordered) marker = std::to_string(lists_.back().next++) + ". ";
    w_->Word(marker);
    w_->PushPrefix(std::string(marker.size(), ' '));
    RenderChildren(e.children, depth);
    w_->PopPrefix();
    w_->Block(false);
  }

  void RenderLink(const GumboNode* node, int depth) {
    const GumboElement& e = node->v.element;
    RenderChildren(e.children, depth);
    std::string_view href = Attribute(e, "href");
    while (!href.empty() && IsHtmlSpace(href.front())) href.remove_prefix(1);
    while (!href.empty() && IsHtmlSpace(href.back())) href.remove_suffix(1);
    const std::string scheme = AsciiLower(href.substr(0, href.find(':') == npos ? 0 : href.find(':') + 1));
    if (href.empty() || href.front() == '#' || scheme == "javascript:" || scheme == "cid:") return;
    // Longer than this, the text cannot be the address however it is written;
    // and no link reads more than kMaxLinkNodes nodes of text, so that links
    // nested in links (which broken markup makes) cost no more than that each.
    const std::string text = FlatText(node, *hidden_, href.size() + 64, kMaxLinkNodes);
    if (text.empty() || NormalizedUrl(text) == NormalizedUrl(href)) return;
    std::string shown(scheme == "mailto:" ? href.substr(7) : href);
    w_->Text(" (" + shown + ")");
  }

  // Each row is a line; cells holding several lines are written one after the other.
  void RenderTable(const GumboElement& table, int depth) {
    w_->Block(false);
    if (table_depth_ >= kMaxTableNesting) {
      // Deeper tables write each cell on its own lines, straight into the
      // text: the rendering below copies a cell's text once per enclosing table.
      RenderFlatTable(table, depth);
      w_->Block(false);
      return;
    }
    RenderCaptions(table, depth);
    for (const GumboNode* row_node : Rows(table)) {
      const GumboElement* row = &row_node->v.element;
      if (w_->full()) return;
      if (IsHidden(*row)) continue;
      std::vector<std::string> cells;
      size_t row_bytes = 0;  // the text of the cells so far, with separators
      bool multi_line = false;
      for (unsigned k = 0; k < row->children.length; ++k) {
        const auto* cell = static_cast<const GumboNode*>(row->children.data[k]);
        if (cell->type != GUMBO_NODE_ELEMENT || IsHidden(cell->v.element) ||
            (cell->v.element.tag != GUMBO_TAG_TD && cell->v.element.tag != GUMBO_TAG_TH)) {
          continue;
        }
        // A cell's text may only take what the row leaves of the text's room.
        Writer sub(w_->room() - std::min(w_->room(), row_bytes));
        Renderer inner(&sub, hidden_);
        inner.lists_ = lists_;
        inner.table_depth_ = table_depth_ + 1;
        inner.RenderChildren(cell->v.element.children, depth + 2);
        if (inner.quote_mark_ != npos) MarkQuote();
        std::string text = sub.Finish();
        if (sub.truncated()) w_->MarkTruncated();
        row_bytes += text.size() + 3;
        if (sub.quoting_rest()) pending_quote_rest_ = true;
        if (text.empty()) continue;
        multi_line = multi_line || text.find('\n') != npos;
        cells.push_back(std::move(text));
      }
      if (cells.empty()) continue;
      w_->Block(false);
      if (!multi_line) {
        std::string line;
        for (const std::string& c : cells) {
          if (!line.empty()) line += " | ";
          line += c;
        }
        w_->Word(line);
      } else {
        for (const std::string& c : cells) {
          w_->Block(false);
          WriteLines(c);
        }
      }
      w_->Block(false);
      if (pending_quote_rest_) {
        w_->QuoteRest();
        pending_quote_rest_ = false;
      }
    }
    w_->Block(false);
  }

  // The rows of `table` (also inside thead, tbody and tfoot), visible ones only.
  static std::vector<const GumboNode*> Rows(const GumboElement& table) {
    std::vector<const GumboNode*> rows;
    for (unsigned k = 0; k < table.children.length; ++k) {
      const auto* child = static_cast<const GumboNode*>(table.children.data[k]);
      if (child->type != GUMBO_NODE_ELEMENT) continue;
      const GumboElement& c = child->v.element;
      if (c.tag == GUMBO_TAG_TR) {
        rows.push_back(child);
      } else if (c.tag == GUMBO_TAG_THEAD || c.tag == GUMBO_TAG_TBODY || c.tag == GUMBO_TAG_TFOOT) {
        for (unsigned r = 0; r < c.children.length; ++r) {
          const auto* row = static_cast<const GumboNode*>(c.children.data[r]);
          if (row->type == GUMBO_NODE_ELEMENT && row->v.element.tag == GUMBO_TAG_TR) rows.push_back(row);
        }
      }
    }
    return rows;
  }

  void RenderCaptions(const GumboElement& table, int depth) {
    for (unsigned k = 0; k < table.children.length; ++k) {
      const auto* child = static_cast<const GumboNode*>(table.children.data[k]);
      if (child->type == GUMBO_NODE_ELEMENT && child->v.element.tag == GUMBO_TAG_CAPTION)
        Render(child, depth + 1);
    }
  }

  void RenderFlatTable(const GumboElement& table, int depth) {
    RenderCaptions(table, depth);
    for (const GumboNode* row : Rows(table)) {
      if (IsHidden(row->v.element)) continue;
      const GumboVector& cells = row->v.element.children;
      for (unsigned k = 0; k < cells.length; ++k) {
        const auto* cell = static_cast<const GumboNode*>(cells.data[k]);
        if (cell->type != GUMBO_NODE_ELEMENT || IsHidden(cell->v.element) ||
            (cell->v.element.tag != GUMBO_TAG_TD && cell->v.element.tag != GUMBO_TAG_TH)) {
          continue;
        }
        w_->Block(false);
        RenderChildren(cell->v.element.children, depth + 2);
        w_->Block(false);
      }
    }
  }

  void WriteLines(std::string_view text) {
    size_t pos = 0;
    bool first = true;
    while (pos <= text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == npos) eol = text.size();
      if (!first) w_->LineBreak();
      first = false;
      if (eol > pos) w_->Word(text.substr(pos, eol - pos));
      pos = eol + 1;
    }
  }

  struct ListState {
    bool ordered = false;
    int next = 1;
  };

  Writer* w_;
  const HiddenText* hidden_;
  std::vector<ListState> lists_;
  int pre_ = 0;
  int table_depth_ = 0;  // tables around this one rendered into their own writers
  size_t quote_mark_ = npos;
  bool pending_quote_rest_ = false;
};

std::string Trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s);
}

struct Rendered {
  std::string text;
  size_t quote_mark = npos;  // offset in `text` of the first client quote container
  bool truncated = false;
};

// What the pre-filter hands Gumbo for `html`, and the text it hid.
std::string RunPrefilter(std::string_view html, HiddenText* hidden) {
  Prefilter prefilter(html, /*markers=*/true);
  std::string out = prefilter.Run();
  if (!prefilter.restart()) {
    *hidden = prefilter.TakeHidden();
    return out;
  }
  Prefilter again(html, /*markers=*/false);
  out = again.Run();
  *hidden = again.TakeHidden();
  return out;
}

// Rewrites each numeric character reference whose value is beyond Unicode
// (&#x80000000;, &#99999999999;) as &#xFFFD;. Gumbo 0.10 accumulates the
// value in an int that overflows, and then writes bytes that are not UTF-8
// (or nothing at all); every value over U+10FFFF is U+FFFD in HTML anyway.
void NeutralizeHugeCharRefs(std::string& html) {
  std::string out;
  size_t copied = 0;
  for (size_t at = html.find("&#"); at != npos; at = html.find("&#", at + 2)) {
    size_t i = at + 2;
    const bool hex = i < html.size() && (html[i] == 'x' || html[i] == 'X');
    if (hex) ++i;
    uint32_t value = 0;
    bool huge = false;
    for (; i < html.size(); ++i) {
      const char c = html[i];
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
      if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) break;
      if (!huge) value = value * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      huge = huge || value > 0x10FFFF;
    }
    // Planes 15 and 16 are the pre-filter's placeholders (noncharacters aside).
    if (!huge && value >= kFinalBase && (value & 0xFFFE) != 0xFFFE) huge = true;
    if (!huge) continue;
    out.append(html, copied, at - copied);
    out += "&#xFFFD";
    copied = i;
  }
  if (copied == 0) return;
  out.append(html, copied, npos);
  html = std::move(out);
}

// Gumbo's tree of the pre-filtered `html`, in `arena`'s memory (it lives as
// long as the arena; it is never destroyed node by node), and in `hidden` the
// text the pre-filter kept from Gumbo.
GumboOutput* Parse(std::string_view html, GumboArena* arena, HiddenText* hidden) {
  const std::string_view read = html.substr(0, kMaxHtmlBytes);
  // Mail's HTML is valid UTF-8 without NULs nearly always: checking is cheaper than copying.
  std::string sanitized =
      read.find('\0') == npos && IsValidUtf8(read) ? std::string(read) : SanitizeUtf8(read);
  // The pre-filter's own characters (kBreak, kBlock, kPara) in the input are not its own.
  // One pass, copying only when there is one (replacing in place would be quadratic).
  if (sanitized.find("\xF4\x8F\xBF") != npos) {
    std::string replaced;
    replaced.reserve(sanitized.size());
    size_t copied = 0;
    for (size_t i = sanitized.find("\xF4\x8F\xBF"); i != npos; i = sanitized.find("\xF4\x8F\xBF", i + 1)) {
      if (!IsBreakAt(sanitized, i) && !IsBlockAt(sanitized, i) && !IsParaAt(sanitized, i)) continue;
      replaced.append(sanitized, copied, i - copied);
      replaced += "\xEF\xBF\xBD";
      copied = i + kBreak.size();
    }
    replaced.append(sanitized, copied);
    sanitized = std::move(replaced);
  }
  NeutralizeHugeCharRefs(sanitized);
  const std::string input = RunPrefilter(sanitized, hidden);
  GumboOptions options = kGumboDefaultOptions;
  options.allocator = &GumboArena::Allocate;
  options.deallocator = &GumboArena::Deallocate;
  options.userdata = arena;
  options.max_errors = 0;  // we never read them; recording them costs memory on broken HTML
  return gumbo_parse_with_options(&options, input.data(), input.size());
}

Rendered Render(std::string_view html) {
  GumboArena arena;
  HiddenText hidden;
  const GumboOutput* output = Parse(html, &arena, &hidden);
  Writer writer(MaxTextBytes(std::min(html.size(), kMaxHtmlBytes)));
  Renderer renderer(&writer, &hidden);
  renderer.Render(output->document, 0);
  Rendered rendered;
  rendered.quote_mark = renderer.quote_mark();
  rendered.text = writer.Finish();
  rendered.truncated = html.size() > kMaxHtmlBytes || writer.truncated();
  return rendered;
}

}  // namespace

std::string HtmlToText(std::string_view html) { return Render(html).text; }

HtmlText HtmlToTextChecked(std::string_view html) {
  Rendered rendered = Render(html);
  return HtmlText{std::move(rendered.text), rendered.truncated};
}

HtmlToTextResult HtmlToTextSplit(std::string_view html) {
  Rendered rendered = Render(html);
  HtmlToTextResult result;
  result.truncated = rendered.truncated;
  const std::string_view text = rendered.text;
  if (rendered.quote_mark >= text.size()) {
    result.reply = std::move(rendered.text);
  } else {
    result.reply = Trimmed(text.substr(0, rendered.quote_mark));
    result.quoted = Trimmed(text.substr(rendered.quote_mark));
  }
  return result;
}

namespace internal {

std::string PrefilterHtml(std::string_view html) {
  HiddenText hidden;
  return RunPrefilter(html, &hidden);
}

size_t KeptParserBytes() { return GumboArena::KeptBytes(); }

HtmlTreeShape ParsedTreeShape(std::string_view html) {
  GumboArena arena;
  HiddenText hidden;
  const GumboOutput* output = Parse(html, &arena, &hidden);
  HtmlTreeShape shape;
  std::vector<std::pair<const GumboNode*, size_t>> stack{{output->document, 0}};
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    ++shape.nodes;
    shape.depth = std::max(shape.depth, depth);
    const GumboVector* children = node->type == GUMBO_NODE_DOCUMENT ? &node->v.document.children
                                  : node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE
                                      ? &node->v.element.children
                                      : nullptr;
    if (children == nullptr) continue;
    for (unsigned k = 0; k < children->length; ++k) {
      stack.emplace_back(static_cast<const GumboNode*>(children->data[k]), depth + 1);
    }
  }
  return shape;
}

}  // namespace internal
}  // namespace mail

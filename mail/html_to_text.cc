#include "mail/html_to_text.h"

#include <gumbo.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mail/charset.h"
#include "mail/mime_parser_text.h"

namespace mail {
namespace {

constexpr size_t npos = std::string::npos;
constexpr size_t kMaxHtmlBytes = size_t{4} << 20;
constexpr size_t kMaxTagDepth = 256;
// Gumbo adds implied elements (html, body, tbody, ...) on top of what the
// pre-filter lets through; deeper than this we only collect text.
constexpr int kMaxRenderDepth = 400;
constexpr std::string_view kRule = "________________________________";

using internal::AsciiLower;
using internal::IsAlpha;

bool IsAlnum(char c) { return IsAlpha(c) || internal::IsDigit(c); }
bool IsHtmlSpace(char c) { return internal::IsSpace(c) || c == '\f'; }

bool OneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// --- the pre-filter that keeps Gumbo linear ---

// Offset just past the '>' that ends the tag whose name ends at `from`
// (attribute quotes respected), or the end of `html`.
size_t TagEnd(std::string_view html, size_t from) {
  char quote = 0;
  for (size_t i = from; i < html.size(); ++i) {
    const char c = html[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i + 1;
    }
  }
  return html.size();
}

// Offset just past "</name ...>" at or after `from` (any case), or the end.
size_t RawTextEnd(std::string_view html, size_t from, std::string_view name) {
  size_t i = from;
  while ((i = html.find("</", i)) != npos) {
    const std::string_view candidate = html.substr(i + 2, name.size());
    if (candidate.size() == name.size() && AsciiLower(candidate) == name &&
        (i + 2 + name.size() >= html.size() || !IsAlnum(html[i + 2 + name.size()]))) {
      return TagEnd(html, i + 2 + name.size());
    }
    i += 2;
  }
  return html.size();
}

// Drops the tags (not the text) of elements nested deeper than kMaxTagDepth,
// and what is never shown (comments, scripts, style sheets), which Gumbo would
// otherwise hold in memory.
// Nesting is counted naively from start and end tags; void elements, elements
// whose end tag is optional (p, li, td, ...) and self-closed tags do not count.
std::string LimitNesting(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  std::vector<std::string> open;
  size_t dropped = 0;
  size_t i = 0;
  while (i < html.size()) {
    const size_t lt = html.find('<', i);
    if (lt == npos) {
      out.append(html.substr(i));
      break;
    }
    out.append(html.substr(i, lt - i));
    i = lt;
    if (html.substr(i, 4) == "<!--") {  // comments are never shown: drop them here already
      const size_t close = html.find("-->", i + 4);
      i = close == npos ? html.size() : close + 3;
      continue;
    }
    const bool closing = i + 1 < html.size() && html[i + 1] == '/';
    const size_t name_start = i + (closing ? 2 : 1);
    if (name_start >= html.size() || !IsAlpha(html[name_start])) {
      out += '<';
      ++i;
      continue;
    }
    size_t name_end = name_start;
    while (name_end < html.size() &&
           (IsAlnum(html[name_end]) || html[name_end] == '-' || html[name_end] == ':')) {
      ++name_end;
    }
    const std::string name = AsciiLower(html.substr(name_start, name_end - name_start));
    const size_t tag_end = TagEnd(html, name_end);
    const std::string_view tag = html.substr(i, tag_end - i);
    i = tag_end;
    if (!closing &&
        OneOf(name, {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"})) {
      // Raw text, not markup; what is never shown (scripts, style sheets) is dropped.
      const size_t e = RawTextEnd(html, tag_end, name);
      out.append(tag);
      if (!OneOf(name, {"script", "style", "title", "iframe", "noframes"})) {
        out.append(html.substr(tag_end, e - tag_end));
      }
      out.append("</" + name + ">");
      i = e;
      continue;
    }
    const bool not_nesting =
        tag.ends_with("/>") ||
        OneOf(name,
              {"area",  "base",   "br",       "col",   "embed", "hr",    "img",      "input", "link", "meta",
               "param", "source", "track",    "wbr",   "p",     "li",    "dt",       "dd",    "tr",   "td",
               "th",    "option", "optgroup", "thead", "tbody", "tfoot", "colgroup", "rb",    "rt",   "rp"});
    if (closing) {
      if (not_nesting) {
        out.append(tag);
      } else if (dropped > 0) {
        --dropped;
      } else {
        auto it = std::find(open.rbegin(), open.rend(), name);
        if (it != open.rend()) open.erase(std::next(it).base(), open.end());
        out.append(tag);
      }
      continue;
    }
    if (not_nesting) {
      out.append(tag);
    } else if (open.size() >= kMaxTagDepth) {
      ++dropped;
    } else {
      open.push_back(name);
      out.append(tag);
    }
  }
  return out;
}

// --- the text writer ---

// Accumulates text lines: collapses whitespace, separates blocks, writes each
// line's prefix ("> " for quotes, list indentation) when the line starts.
class Writer {
 public:
  // Inline text: runs of HTML whitespace collapse to one space; no-break
  // spaces stay (as plain spaces).
  void Text(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (IsHtmlSpace(c)) {
        space_ = true;
      } else if (c == '\xC2' && i + 1 < s.size() && s[i + 1] == '\xA0') {
        Put(" ");
        ++i;
      } else {
        Put(std::string_view(&s[i], 1));
      }
    }
  }

  // Preformatted text: every space and line break as written.
  void Verbatim(std::string_view s) {
    for (char c : s) {
      if (c == '\n') {
        LineBreak();
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

  // The text, with runs of blank lines (also lines holding only spaces or a
  // quote prefix) cut to one.
  std::string Finish() {
    std::string text;
    text.reserve(out_.size());
    std::string_view previous_blank;
    bool have_previous = false;
    size_t pos = 0;
    while (pos < out_.size()) {
      size_t eol = out_.find('\n', pos);
      if (eol == npos) eol = out_.size();
      std::string_view line = RightTrimmed(std::string_view(out_).substr(pos, eol - pos));
      const bool blank = line.find_first_not_of("> ") == npos;
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
  std::string Prefix() const { return quote_rest_ ? "> " + prefix_ : prefix_; }

  static std::string_view RightTrimmed(std::string_view s) {
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  }

  void Request(int newlines) {
    if (pending_ == 0) blank_prefix_ = Prefix();
    pending_ = newlines;
    space_ = false;
  }

  void EndLine() {
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
    out_ += '\n';
  }

  void Put(std::string_view content) {
    if (pending_ == 0 && line_started_) {
      if (space_) out_ += ' ';
      space_ = false;
      out_ += content;
      return;
    }
    const std::string prefix = Prefix();
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
  std::vector<size_t> prefix_sizes_;
  std::string blank_prefix_;
  int pending_ = 0;            // line breaks to write before the next content
  bool space_ = false;         // collapsed whitespace to write before the next content
  bool line_started_ = false;  // the current line has its prefix
  bool quote_rest_ = false;
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
// used for link texts and for subtrees too deep to render).
std::string FlatText(const GumboNode* root) {
  std::string out;
  bool space = false;
  std::vector<const GumboNode*> stack{root};
  while (!stack.empty()) {
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
      for (const char* p = node->v.text.text; *p != '\0'; ++p) {
        if (IsHtmlSpace(*p)) {
          space = true;
          continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += *p;
      }
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
  explicit Renderer(Writer* writer) : w_(writer) {}

  void Render(const GumboNode* node, int depth) {
    switch (node->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        if (pre_ > 0) {
          w_->Verbatim(node->v.text.text);
        } else {
          w_->Text(node->v.text.text);
        }
        return;
      case GUMBO_NODE_DOCUMENT:
        RenderChildren(node->v.document.children, depth);
        return;
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE:
        if (depth > kMaxRenderDepth) {
          w_->Text(FlatText(node));
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
    const std::string_view id = Attribute(e, "id");
    const bool cite = e.tag == GUMBO_TAG_BLOCKQUOTE && AsciiLower(Attribute(e, "type")) == "cite";
    if (HasClass(e, "gmail_quote") || HasClass(e, "gmail_quote_container") ||
        HasClass(e, "moz-cite-prefix") || cite) {
      MarkQuote();
    }
    if (e.tag == GUMBO_TAG_BLOCKQUOTE || HasClass(e, "yahoo_quoted") || id == "OLK_SRC_BODY_SECTION") {
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
    const std::string text = FlatText(node);
    if (text.empty() || NormalizedUrl(text) == NormalizedUrl(href)) return;
    std::string shown(scheme == "mailto:" ? href.substr(7) : href);
    w_->Text(" (" + shown + ")");
  }

  // Each row is a line; cells holding several lines are written one after the other.
  void RenderTable(const GumboElement& table, int depth) {
    w_->Block(false);
    std::vector<const GumboElement*> rows;
    for (unsigned k = 0; k < table.children.length; ++k) {
      const auto* child = static_cast<const GumboNode*>(table.children.data[k]);
      if (child->type != GUMBO_NODE_ELEMENT) continue;
      const GumboElement& c = child->v.element;
      if (c.tag == GUMBO_TAG_TR) {
        rows.push_back(&c);
      } else if (c.tag == GUMBO_TAG_THEAD || c.tag == GUMBO_TAG_TBODY || c.tag == GUMBO_TAG_TFOOT) {
        for (unsigned r = 0; r < c.children.length; ++r) {
          const auto* row = static_cast<const GumboNode*>(c.children.data[r]);
          if (row->type == GUMBO_NODE_ELEMENT && row->v.element.tag == GUMBO_TAG_TR) {
            rows.push_back(&row->v.element);
          }
        }
      } else if (c.tag == GUMBO_TAG_CAPTION) {
        Render(child, depth + 1);
      }
    }
    for (const GumboElement* row : rows) {
      if (IsHidden(*row)) continue;
      std::vector<std::string> cells;
      bool multi_line = false;
      for (unsigned k = 0; k < row->children.length; ++k) {
        const auto* cell = static_cast<const GumboNode*>(row->children.data[k]);
        if (cell->type != GUMBO_NODE_ELEMENT || IsHidden(cell->v.element) ||
            (cell->v.element.tag != GUMBO_TAG_TD && cell->v.element.tag != GUMBO_TAG_TH)) {
          continue;
        }
        Writer sub;
        Renderer inner(&sub);
        inner.lists_ = lists_;
        inner.RenderChildren(cell->v.element.children, depth + 2);
        if (inner.quote_mark_ != npos) MarkQuote();
        std::string text = sub.Finish();
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
  std::vector<ListState> lists_;
  int pre_ = 0;
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
};

Rendered Render(std::string_view html) {
  const std::string input = LimitNesting(SanitizeUtf8(html.substr(0, kMaxHtmlBytes)));
  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // we never read them; recording them costs memory on broken HTML
  GumboOutput* output = gumbo_parse_with_options(&options, input.data(), input.size());
  Writer writer;
  Renderer renderer(&writer);
  renderer.Render(output->document, 0);
  gumbo_destroy_output(&options, output);
  Rendered rendered;
  rendered.quote_mark = renderer.quote_mark();
  rendered.text = writer.Finish();
  return rendered;
}

}  // namespace

std::string HtmlToText(std::string_view html) { return Render(html).text; }

HtmlToTextResult HtmlToTextSplit(std::string_view html) {
  Rendered rendered = Render(html);
  HtmlToTextResult result;
  const std::string_view text = rendered.text;
  if (rendered.quote_mark >= text.size()) {
    result.reply = std::move(rendered.text);
  } else {
    result.reply = Trimmed(text.substr(0, rendered.quote_mark));
    result.quoted = Trimmed(text.substr(rendered.quote_mark));
  }
  return result;
}

}  // namespace mail

#include "web/markup_check.h"

#include <cstdint>
#include <set>

namespace webtest {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Checks UTF-8 and the characters XML 1.0 allows (Char production); HTML is
// held to the same rule, since the views promise the same cleaning.
std::string CheckCharacters(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, len = 4;
    } else {
      return "invalid UTF-8 at byte " + std::to_string(i);
    }
    if (s.size() - i < len) return "truncated UTF-8 at byte " + std::to_string(i);
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return "invalid UTF-8 at byte " + std::to_string(i);
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return "invalid UTF-8 at byte " + std::to_string(i);
    }
    const bool allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                         (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
    if (!allowed) return "character U+" + std::to_string(cp) + " not allowed, at byte " + std::to_string(i);
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
      return "bidi control at byte " + std::to_string(i);
    }
    i += len;
  }
  return "";
}

class Parser {
 public:
  Parser(std::string_view doc, MarkupKind kind) : doc_(doc), kind_(kind) {}

  MarkupReport Run() {
    report_.error = CheckCharacters(doc_);
    if (!report_.ok()) return std::move(report_);
    if (kind_ == MarkupKind::kXml) {
      if (doc_.substr(0, 5) == "<?xml") {
        const size_t end = doc_.find("?>");
        if (end == std::string_view::npos) return Fail("unterminated XML declaration");
        pos_ = end + 2;
      }
    }
    bool root_seen = false;
    while (pos_ < doc_.size() && report_.ok()) {
      const char c = doc_[pos_];
      if (c == '<') {
        if (kind_ == MarkupKind::kXml && stack_.empty() && root_seen && doc_.compare(pos_, 4, "<!--") != 0) {
          return Fail("content after the root element");
        }
        Tag();
        if (!stack_.empty()) root_seen = true;
      } else if (c == '&') {
        Reference(report_.text);
      } else if (c == '>') {
        Fail("bare '>' in text");  // legal in HTML, but our escaper always writes &gt;
      } else {
        if (kind_ == MarkupKind::kXml && stack_.empty() && !IsSpace(c)) Fail("text outside the root element");
        report_.text.push_back(c);
        ++pos_;
      }
    }
    if (report_.ok() && !stack_.empty()) Fail("unclosed element <" + stack_.back() + ">");
    if (report_.ok() && kind_ == MarkupKind::kXml && !root_seen) Fail("no root element");
    return std::move(report_);
  }

 private:
  MarkupReport Fail(std::string message) {
    if (report_.error.empty()) report_.error = message + " (at byte " + std::to_string(pos_) + ")";
    pos_ = doc_.size();
    return report_;
  }

  void Reference(std::string& out) {
    const size_t semi = doc_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) {
      Fail("bare '&'");
      return;
    }
    const std::string_view name = doc_.substr(pos_ + 1, semi - pos_ - 1);
    if (name == "amp") {
      out.push_back('&');
    } else if (name == "lt") {
      out.push_back('<');
    } else if (name == "gt") {
      out.push_back('>');
    } else if (name == "quot") {
      out.push_back('"');
    } else if (name == "apos") {
      out.push_back('\'');
    } else if (name.size() > 1 && name[0] == '#') {
      uint32_t cp = 0;
      const bool hex = name[1] == 'x';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      if (digits.empty()) {
        Fail("empty character reference");
        return;
      }
      for (const char d : digits) {
        int v = -1;
        if (d >= '0' && d <= '9') v = d - '0';
        if (hex && d >= 'a' && d <= 'f') v = d - 'a' + 10;
        if (hex && d >= 'A' && d <= 'F') v = d - 'A' + 10;
        if (v < 0) {
          Fail("bad character reference");
          return;
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) {
          Fail("character reference out of range");
          return;
        }
      }
      std::string encoded;
      AppendUtf8(encoded, cp);
      if (!CheckCharacters(encoded).empty()) {
        Fail("reference to a character not allowed");
        return;
      }
      out += encoded;
    } else {
      Fail("unknown entity &" + std::string(name) + ";");
      return;
    }
    pos_ = semi + 1;
  }

  std::string Name() {
    const size_t start = pos_;
    if (pos_ >= doc_.size() || !IsNameStart(doc_[pos_])) return "";
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    return std::string(doc_.substr(start, pos_ - start));
  }

  void SkipSpace() {
    while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
  }

  void Tag() {
    if (doc_.compare(pos_, 4, "<!--") == 0) {
      const size_t end = doc_.find("-->", pos_ + 4);
      if (end == std::string_view::npos) {
        Fail("unterminated comment");
        return;
      }
      pos_ = end + 3;
      return;
    }
    if (kind_ == MarkupKind::kHtml && doc_.compare(pos_, 15, "<!DOCTYPE html>") == 0) {
      pos_ += 15;
      return;
    }
    ++pos_;
    if (pos_ < doc_.size() && doc_[pos_] == '/') {
      ++pos_;
      const std::string name = Name();
      SkipSpace();
      if (name.empty() || pos_ >= doc_.size() || doc_[pos_] != '>') {
        Fail("bad end tag");
        return;
      }
      ++pos_;
      if (stack_.empty() || stack_.back() != name) {
        Fail("end tag </" + name + "> does not match " +
             (stack_.empty() ? std::string("nothing") : "<" + stack_.back() + ">"));
        return;
      }
      stack_.pop_back();
      return;
    }
    Element element;
    element.name = Name();
    if (element.name.empty()) {
      Fail("'<' that starts no tag");
      return;
    }
    while (true) {
      const size_t before = pos_;
      SkipSpace();
      if (pos_ >= doc_.size()) {
        Fail("unterminated tag");
        return;
      }
      if (doc_[pos_] == '>' || doc_.compare(pos_, 2, "/>") == 0) break;
      if (pos_ == before) {
        Fail("attributes must be separated by space");
        return;
      }
      std::string attribute = Name();
      if (attribute.empty()) {
        Fail("bad attribute name");
        return;
      }
      std::string value;
      if (pos_ < doc_.size() && doc_[pos_] == '=') {
        ++pos_;
        if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
          Fail("unquoted attribute value");
          return;
        }
        const char quote = doc_[pos_++];
        while (pos_ < doc_.size() && doc_[pos_] != quote) {
          if (doc_[pos_] == '<') {
            Fail("'<' in an attribute value");
            return;
          }
          if (doc_[pos_] == '&') {
            Reference(value);
            if (!report_.ok()) return;
          } else {
            value.push_back(doc_[pos_++]);
          }
        }
        if (pos_ >= doc_.size()) {
          Fail("unterminated attribute value");
          return;
        }
        ++pos_;
      } else if (kind_ == MarkupKind::kXml) {
        Fail("attribute without a value");
        return;
      }
      for (const auto& [seen, unused] : element.attributes) {
        if (seen == attribute) {
          Fail("duplicate attribute " + attribute);
          return;
        }
      }
      element.attributes.emplace_back(std::move(attribute), std::move(value));
    }
    bool self_closed = false;
    if (doc_[pos_] == '/') {
      self_closed = true;
      ++pos_;
    }
    ++pos_;  // '>'
    static const std::set<std::string> kVoid = {"meta", "link", "input", "br", "img", "hr"};
    const bool is_void = kind_ == MarkupKind::kHtml && kVoid.count(element.name) > 0;
    if (kind_ == MarkupKind::kHtml && self_closed && !is_void) {
      Fail("self-closed <" + element.name + "> (not a void element)");
      return;
    }
    if (!self_closed && !is_void) stack_.push_back(element.name);
    report_.elements.push_back(std::move(element));
  }

  std::string_view doc_;
  MarkupKind kind_;
  size_t pos_ = 0;
  std::vector<std::string> stack_;
  MarkupReport report_;
};

}  // namespace

std::vector<std::string> MarkupReport::AttributeValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const Element& e : elements) {
    for (const auto& [attribute, value] : e.attributes) {
      if (attribute == name) values.push_back(value);
    }
  }
  return values;
}

size_t MarkupReport::Count(std::string_view name) const {
  size_t n = 0;
  for (const Element& e : elements) n += e.name == name ? 1 : 0;
  return n;
}

MarkupReport CheckMarkup(std::string_view document, MarkupKind kind) { return Parser(document, kind).Run(); }

}  // namespace webtest

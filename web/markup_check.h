// Test support: a small, strict checker of the markup the views write, so
// tests can assert on structure rather than on hard-coded output. It is not
// a general HTML parser: it accepts the subset our views may emit (every
// attribute quoted, elements closed except HTML's void elements) and reports
// anything else as an error, which is exactly what a hostile string would
// cause if it ever escaped the escaping writer.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_WEB_MARKUP_CHECK_H_
#define MAILFORUM_WEB_MARKUP_CHECK_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace webtest {

enum class MarkupKind {
  kHtml,  // <!DOCTYPE html>, void elements, boolean attributes
  kXml,   // XML 1.0 well-formedness (a prolog, one root, legal characters)
};

struct Element {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // values with references decoded
};

struct MarkupReport {
  std::string error;              // "" when the document is well-formed
  std::vector<Element> elements;  // start tags in document order
  std::string text;               // character data with references decoded, elements' text run together
  bool ok() const { return error.empty(); }
  // Values of attribute `name` on every element.
  std::vector<std::string> AttributeValues(std::string_view name) const;
  // How many elements are called `name`.
  size_t Count(std::string_view name) const;
};

MarkupReport CheckMarkup(std::string_view document, MarkupKind kind);

}  // namespace webtest

#endif  // MAILFORUM_WEB_MARKUP_CHECK_H_

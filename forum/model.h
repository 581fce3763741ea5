// The forum's plain data types, shared by the store, the rules and the web view.
// Thread-safety: plain values.
#ifndef MAILFORUM_FORUM_MODEL_H_
#define MAILFORUM_FORUM_MODEL_H_

#include <cstddef>
#include <string>

namespace forum {

// A database message this large (a statement with its parameters, or one
// row of a result) leaves its connection holding buffers that large until
// it is closed; pools close such connections (Store::KeepsLargeBuffers).
inline constexpr std::size_t kLargeMessageBytes = std::size_t{1} << 20;

// A category of threads (from the configuration; synchronised into the database).
struct Category {
  std::string slug;         // stable identifier used in URLs and rules
  std::string name;         // shown to people
  std::string description;  // optional longer text
  // Shown on the web (categories[].public). A private category's threads
  // are never listed, searchable or readable there; its mail flows as before.
  bool is_public = true;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_MODEL_H_

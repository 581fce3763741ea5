// Gzip (RFC 1952) of whole in-memory documents, for responses the site
// compresses once and keeps in its cache. libdeflate (compression: about
// three times zlib's speed at level 1, and smaller) and zlib (reading back)
// live only in gzip.cc.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_WEB_GZIP_H_
#define MAILFORUM_WEB_GZIP_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace web {

// `data` compressed as one gzip member at `level` (1 fastest .. 12 smallest;
// the site uses 1 on a cache miss: a cold thread page's gzip cost more CPU
// than rendering it). nullopt only when compression fails (out of memory)
// or `level` is out of range.
std::optional<std::string> Gzip(std::string_view data, int level = 1);

// The content of gzip data, or nullopt when it is not valid gzip or would
// exceed `max_size` bytes (for tests and checks, not for untrusted input at scale).
std::optional<std::string> Gunzip(std::string_view data, std::size_t max_size = 64u << 20);

}  // namespace web

#endif  // MAILFORUM_WEB_GZIP_H_

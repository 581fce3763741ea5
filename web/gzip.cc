#include "web/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <memory>

namespace web {
namespace {

// windowBits 15 plus 16: read only gzip (its header and trailer), not zlib's own format.
constexpr int kGzipWindowBits = 15 + 16;

}  // namespace

std::optional<std::string> Gzip(std::string_view data, int level) {
  if (level < 1 || level > 12) return std::nullopt;
  // A compressor is a few hundred KiB of tables: one per thread, kept.
  struct Free {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local std::unique_ptr<libdeflate_compressor, Free> compressor;
  thread_local int compressor_level = 0;
  if (!compressor || compressor_level != level) {
    compressor.reset(libdeflate_alloc_compressor(level));
    compressor_level = level;
    if (!compressor) return std::nullopt;
  }
  const std::size_t bound = libdeflate_gzip_compress_bound(compressor.get(), data.size());
  auto buf = std::make_unique_for_overwrite<char[]>(bound);  // not zero-filled: bigger than the input
  const std::size_t n =
      libdeflate_gzip_compress(compressor.get(), data.data(), data.size(), buf.get(), bound);
  if (n == 0) return std::nullopt;
  return std::string(buf.get(), n);
}

std::optional<std::string> Gunzip(std::string_view data, std::size_t max_size) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindowBits) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_size || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)) {
      rc = Z_DATA_ERROR;
      break;
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

}  // namespace web

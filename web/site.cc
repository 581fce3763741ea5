// Site: routing, the page cache and its invalidation, conditional GET, gzip,
// the search rate limit, /healthz and /metrics (see site.h).
#include "web/site.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/ascii.h"
#include "base/log.h"
#include "base/metrics.h"
#include "forum/reader.h"
#include "web/gzip.h"

namespace web {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kCsp =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";
constexpr std::size_t kMinGzipBytes = 256;
constexpr int kListLimit = 30;
constexpr int kFeedLimit = 50;
constexpr int kSearchLimit = 20;
constexpr std::size_t kShards = 16;

// --- routes and metrics ---

enum class Route {
  kList,
  kCategory,
  kThread,
  kAttachment,
  kSearch,
  kFeed,
  kCategoryFeed,
  kThreadFeed,
  kApiThreads,
  kApiThread,
  kApiSearch,
  kHealthz,
  kMetrics,
  kStatic,
  kNotFound,
  kServer,
  kUnsubscribe,
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(Route::kCount)> kRouteNames = {
    "list",          "category",    "thread",      "attachment", "search",     "feed",
    "category_feed", "thread_feed", "api_threads", "api_thread", "api_search", "healthz",
    "metrics",       "static",      "not_found",   "server",     "unsubscribe"};
constexpr std::array<int, 13> kStatuses = {200, 304, 400, 404, 405, 413, 414, 429, 431, 500, 503, 0, 0};
constexpr std::size_t kStatusSlots = 12;  // the statuses above, then "other"

std::size_t StatusSlot(int status) {
  for (std::size_t i = 0; i + 1 < kStatusSlots; ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatusSlots - 1;
}

struct Metrics {
  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, static_cast<std::size_t>(Route::kCount)>
      requests{};
  std::atomic<uint64_t> cache_hits{0};
  std::atomic<uint64_t> cache_misses{0};
  std::atomic<uint64_t> invalidations{0};
  std::atomic<uint64_t> rate_limited{0};
};

// --- small helpers ---

// A Prometheus label value: backslash, double quote and line feed escaped.
std::string PrometheusLabel(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding ('+' is a space).
std::string FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The query string's parameters (the first value of each name).
std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string name = FormDecode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : FormDecode(pair.substr(eq + 1));
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

std::optional<int64_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value <= 0) return std::nullopt;
  return value;
}

bool IsSlug(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool IsStatus(std::string_view s) { return s == "open" || s == "answered" || s == "resolved"; }

std::size_t Utf8Length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A strong entity tag: FNV-1a (64 bits) of the body and its length.
std::string EntityTag(std::string_view body) {
  uint64_t h = 1469598103934665603ull;
  for (char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"%016llx-%zx\"", static_cast<unsigned long long>(h), body.size());
  return buf;
}

// The tag of the gzip representation (a different representation needs a different strong tag).
std::string GzipTag(const std::string& tag) { return tag.substr(0, tag.size() - 1) + "-gz\""; }

std::string HttpDate(time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<time_t> ParseHttpDate(const std::string& text) {
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

time_t ToTime(forum::Timestamp t) { return std::chrono::system_clock::to_time_t(t); }

bool AcceptsGzip(std::string_view header) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string coding = Lower(Trim(item.substr(0, semi)));
    if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
    if (semi != std::string_view::npos) {
      std::string params = Lower(item.substr(semi + 1));
      params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
      if (params == "q=0" || params == "q=0." || params == "q=0.0" || params == "q=0.00" ||
          params == "q=0.000") {
        continue;
      }
    }
    return true;
  }
  return false;
}

bool TagMatches(std::string_view header, const std::string& tag) {
  const std::string gz = GzipTag(tag);
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = Trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == tag || item == gz) return true;
  }
  return false;
}

// RFC 8187 value of filename*: UTF-8 bytes, attr-char kept, the rest %XX.
std::string ExtValue(std::string_view s) { return "UTF-8''" + base::PercentEncode(s, "!#$&+^`|"); }

void AddSecurityHeaders(Response& r) {
  r.AddHeader("Content-Security-Policy", std::string(kCsp));
  r.AddHeader("X-Content-Type-Options", "nosniff");
  r.AddHeader("Referrer-Policy", "same-origin");
}

// --- the page cache ---

// The gzip representation of a page, made on the first request that accepts
// gzip (a client that does not never pays for it) and kept with the page.
struct LazyGzip {
  std::once_flag once;
  std::shared_ptr<const std::string> bytes;  // null when not worth it
};

// A rendered document with what conditional GET and gzip need.
struct Page {
  int status = 200;
  std::string content_type;
  std::string cache_control = "no-cache";
  std::shared_ptr<const std::string> body;
  std::shared_ptr<LazyGzip> gzip;  // null when the page is never compressed
  std::string etag;
  std::optional<time_t> last_modified;
  int64_t thread_id = 0;  // the thread it shows; 0: a list (any change drops it)
  // The gzip bytes (null when not smaller than the body); made once, by the first caller.
  const std::shared_ptr<const std::string>& Gzipped() const {
    std::call_once(gzip->once, [this] {
      if (auto gz = Gzip(*body); gz && gz->size() < body->size()) {
        gzip->bytes = std::make_shared<const std::string>(std::move(*gz));
      }
    });
    return gzip->bytes;
  }
  // The cache's charge, fixed for the page's life though the gzip bytes may
  // come later: for them a quarter of the body (pages compress to 1/4..1/6).
  std::size_t Bytes() const {
    const std::size_t n = body ? body->size() : 0;
    return n + (gzip ? n / 4 : 0) + etag.size() + content_type.size() + 128;
  }
};

Page MakePage(std::string content_type, std::string body, bool compressible) {
  Page page;
  page.content_type = std::move(content_type);
  page.etag = EntityTag(body);
  if (compressible && body.size() >= kMinGzipBytes) page.gzip = std::make_shared<LazyGzip>();
  page.body = std::make_shared<const std::string>(std::move(body));
  return page;
}

class PageCache {
 public:
  explicit PageCache(std::size_t bytes) : shard_bytes_(std::max<std::size_t>(bytes / kShards, 1)) {}

  std::shared_ptr<const Page> Find(const std::string& key) {
    Shard& s = ShardOf(key);
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end()) return nullptr;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->second;
  }

  // Inserts unless a change came since `generation` was read (the page may be stale then).
  void Insert(const std::string& key, std::shared_ptr<const Page> page, uint64_t generation) {
    const std::size_t size = page->Bytes() + key.size();
    if (size > shard_bytes_ / 4) return;
    Shard& s = ShardOf(key);
    std::lock_guard lock(s.mutex);
    if (generation_.load() != generation) return;
    if (auto it = s.index.find(key); it != s.index.end()) Erase(s, it->second);
    s.lru.emplace_front(key, std::move(page));
    s.index.emplace(key, s.lru.begin());
    s.bytes += size;
    while (s.bytes > shard_bytes_ && !s.lru.empty()) Erase(s, std::prev(s.lru.end()));
  }

  uint64_t generation() const { return generation_.load(); }

  // Drops the pages of `threads` and every list; everything when `all`.
  void Invalidate(const std::vector<int64_t>& threads, bool all) {
    ++generation_;
    std::unordered_set<int64_t> ids(threads.begin(), threads.end());
    if (ids.count(0) > 0) all = true;
    for (Shard& s : shards_) {
      std::lock_guard lock(s.mutex);
      for (auto it = s.lru.begin(); it != s.lru.end();) {
        auto next = std::next(it);
        const int64_t id = it->second->thread_id;
        if (all || id == 0 || ids.count(id) > 0) Erase(s, it);
        it = next;
      }
    }
  }

  std::pair<std::size_t, std::size_t> Size() {
    std::size_t entries = 0, bytes = 0;
    for (Shard& s : shards_) {
      std::lock_guard lock(s.mutex);
      entries += s.index.size();
      bytes += s.bytes;
    }
    return {entries, bytes};
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const Page>>;
  struct Shard {
    std::mutex mutex;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index;
    std::size_t bytes = 0;
  };

  Shard& ShardOf(const std::string& key) { return shards_[std::hash<std::string>()(key) % kShards]; }

  void Erase(Shard& s, std::list<Entry>::iterator it) {
    s.bytes -= it->second->Bytes() + it->first.size();
    s.index.erase(it->first);
    s.lru.erase(it);
  }

  const std::size_t shard_bytes_;
  std::atomic<uint64_t> generation_{0};
  std::array<Shard, kShards> shards_;
};

// --- the search rate limit: a token bucket per client address ---

class RateLimiter {
 public:
  RateLimiter(double per_minute, int burst)
      : per_second_(std::max(per_minute, 0.001) / 60.0), burst_(burst) {}

  // 0 when allowed; otherwise the seconds to wait.
  int Take(const std::string& client) {
    Shard& s = shards_[std::hash<std::string>()(client) % kShards];
    const auto now = Clock::now();
    std::lock_guard lock(s.mutex);
    if (s.buckets.size() > 10000) Prune(s, now);
    auto [it, added] = s.buckets.try_emplace(client, Bucket{static_cast<double>(burst_), now});
    Bucket& b = it->second;
    if (!added) {
      b.tokens = std::min<double>(burst_, b.tokens + Seconds(now - b.at) * per_second_);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return std::max(1, static_cast<int>((1 - b.tokens) / per_second_ + 0.999));
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  static double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
  // Forgets buckets that have refilled (they would start full anyway).
  void Prune(Shard& s, Clock::time_point now) {
    for (auto it = s.buckets.begin(); it != s.buckets.end();) {
      if (it->second.tokens + Seconds(now - it->second.at) * per_second_ >= burst_) {
        it = s.buckets.erase(it);
      } else {
        ++it;
      }
    }
  }

  const double per_second_;
  const int burst_;
  std::array<Shard, kShards> shards_;
};

// What a handler makes of a request: a page, or an error status with a plain-text message.
struct Outcome {
  std::optional<Page> page;
  int status = 200;
  std::string message;
  int retry_after = 0;
  static Outcome Error(int status, std::string message) {
    Outcome o;
    o.status = status;
    o.message = std::move(message);
    return o;
  }
};

}  // namespace

struct Site::Impl {
  explicit Impl(SiteOptions o)
      : options(std::move(o)),
        cache(options.cache_bytes),
        limiter(options.search_per_minute, options.search_burst) {}

  SiteOptions options;
  PageCache cache;
  RateLimiter limiter;
  Metrics metrics;
  std::shared_ptr<const Page> stylesheet;
  std::function<int64_t()> connection_gauge;

  std::mutex categories_mutex;  // guards category_list and categories_generation
  std::shared_ptr<const std::vector<forum::CategoryView>> category_list;
  uint64_t categories_generation = 0;

  std::mutex pool_mutex;
  std::vector<std::unique_ptr<forum::Reader>> pool;

  std::atomic<bool> listening{false};
  std::atomic<bool> stopping{false};
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  std::thread listener;

  // --- readers ---

  // A pooled reader whose connection the server has not closed, else a new one.
  base::Result<std::unique_ptr<forum::Reader>> Borrow() {
    for (;;) {
      std::unique_ptr<forum::Reader> r;
      {
        std::lock_guard lock(pool_mutex);
        if (pool.empty()) break;
        r = std::move(pool.back());
        pool.pop_back();
      }
      if (r->CheckConnection().ok()) return r;
    }
    return forum::Reader::Connect(options.dsn);
  }
  // Pools `r`, unless it carried a large attachment or page: libpq keeps a
  // connection's buffers as large as the largest message it received, and
  // 64 pooled readers could each keep the largest they ever served.
  void Return(std::unique_ptr<forum::Reader> r) {
    if (r->KeepsLargeBuffers()) return;
    std::lock_guard lock(pool_mutex);
    if (pool.size() < 64) pool.push_back(std::move(r));
  }

  // --- the change listener ---

  void Listen() {
    std::chrono::milliseconds backoff(200);
    while (!stopping) {
      auto reader = forum::Reader::Connect(options.dsn);
      base::Status listened = reader ? (*reader)->Listen() : base::Status(reader.error());
      if (!listened.ok()) {
        base::LogWarning("web: change listener: " + listened.error().message + "; retrying");
        std::unique_lock lock(stop_mutex);
        stop_cv.wait_for(lock, backoff, [&] { return stopping.load(); });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
        continue;
      }
      backoff = std::chrono::milliseconds(200);
      // Changes may have been missed while not listening.
      cache.Invalidate({}, true);
      listening = true;
      while (!stopping) {
        auto changes = (*reader)->WaitForChanges(std::chrono::milliseconds(500));
        if (!changes) {
          listening = false;
          cache.Invalidate({}, true);
          base::LogWarning("web: change listener lost its connection (" + changes.error().message +
                           "); the cache is off until it is back");
          break;
        }
        if (!changes->empty()) {
          ++metrics.invalidations;
          cache.Invalidate(*changes, false);
        }
      }
    }
    listening = false;
  }

  // --- responses ---

  Response FromPage(const Request& request, const Page& page) {
    Response r;
    r.status = page.status;
    // Vary on every response of a compressible page, whichever representation it carries.
    const bool compressible = page.gzip != nullptr;
    const bool gzip = compressible && AcceptsGzip(request.accept_encoding) && page.Gzipped() != nullptr;
    const std::string etag = gzip ? GzipTag(page.etag) : page.etag;
    r.AddHeader("Content-Type", page.content_type);
    r.AddHeader("Cache-Control", page.cache_control);
    if (compressible) r.AddHeader("Vary", "Accept-Encoding");
    r.AddHeader("ETag", etag);
    if (page.last_modified) r.AddHeader("Last-Modified", HttpDate(*page.last_modified));
    bool not_modified = false;
    if (!request.if_none_match.empty()) {
      not_modified = TagMatches(request.if_none_match, page.etag);
    } else if (!request.if_modified_since.empty() && page.last_modified) {
      auto since = ParseHttpDate(request.if_modified_since);
      not_modified = since && *page.last_modified <= *since;
    }
    if (not_modified && page.status == 200) {
      r.status = 304;
      return r;
    }
    if (gzip) {
      r.AddHeader("Content-Encoding", "gzip");
      r.body = page.Gzipped();
    } else {
      r.body = page.body;
    }
    return r;
  }

  Response ErrorPage(Route route, int status, std::string_view message, int retry_after = 0) {
    Response r;
    r.status = status;
    const bool api = route == Route::kApiThreads || route == Route::kApiThread || route == Route::kApiSearch;
    if (api) {
      r.AddHeader("Content-Type", "application/json");
      // `message` is always one of our own fixed texts, never request data.
      std::string json = "{\"error\":{\"status\":" + std::to_string(status) + ",\"message\":\"";
      for (char c : message) {
        if (c == '"' || c == '\\') json += '\\';
        json += c;
      }
      r.SetBody(json + "\"}}\n");
    } else {
      r.AddHeader("Content-Type", "text/html; charset=utf-8");
      std::string body;
      try {
        body = RenderError(options.info, status, message);
      } catch (const std::exception& e) {
        base::LogError(std::string("web: error page failed: ") + e.what());
        body = "<!DOCTYPE html><title>Error</title><p>Error " + std::to_string(status) + "</p>\n";
      }
      r.SetBody(std::move(body));
    }
    r.AddHeader("Cache-Control", "no-store");
    if (retry_after > 0) r.AddHeader("Retry-After", std::to_string(retry_after));
    return r;
  }

  Outcome DatabaseError(const base::Error& error) {
    base::LogWarning("web: database: " + error.message);
    if (error.kind == base::ErrorKind::kTransient) {
      return Outcome::Error(503, "The forum is unavailable for a moment. Please try again.");
    }
    return Outcome::Error(500, "Something went wrong on our side.");
  }

  static std::optional<time_t> Newest(const std::vector<forum::ThreadListItem>& threads) {
    std::optional<time_t> newest;
    for (const auto& t : threads) newest = std::max(newest.value_or(0), ToTime(t.changed_at));
    return newest;
  }

  // The public categories (navigation of every list and search page): kept
  // like a cached page, until the next change, so a cold list page costs
  // one query.
  base::Result<std::shared_ptr<const std::vector<forum::CategoryView>>> Categories(forum::Reader& reader) {
    const uint64_t generation = cache.generation();
    const bool trusted = listening.load();
    {
      std::lock_guard lock(categories_mutex);
      if (trusted && category_list && categories_generation == generation) return category_list;
    }
    auto loaded = reader.PublicCategories();
    if (!loaded) return loaded.error();
    auto shared = std::make_shared<const std::vector<forum::CategoryView>>(std::move(*loaded));
    if (trusted) {
      std::lock_guard lock(categories_mutex);
      category_list = shared;
      categories_generation = generation;
    }
    return shared;
  }

  // --- handlers (each borrows a Reader; only on a cache miss) ---

  Outcome List(forum::Reader& reader, Route route, const std::optional<std::string>& slug,
               const std::map<std::string, std::string>& query) {
    forum::ThreadQuery q;
    q.limit = route == Route::kFeed || route == Route::kCategoryFeed ? kFeedLimit : kListLimit;
    q.category_slug = slug;
    if (route == Route::kApiThreads) {
      if (auto c = query.find("category"); c != query.end() && !c->second.empty()) {
        if (!IsSlug(c->second)) return Outcome::Error(404, "There is no such category.");
        q.category_slug = c->second;
      }
    }
    if (auto s = query.find("status"); s != query.end() && !s->second.empty()) {
      if (!IsStatus(s->second)) return Outcome::Error(400, "Unknown status: use open, answered or resolved.");
      q.status = s->second;
    }
    if (auto a = query.find("after"); a != query.end() && !a->second.empty()) {
      q.after = DecodeCursor(a->second);
      if (!q.after) return Outcome::Error(400, "That page link is broken.");
    }
    ListContext context;
    context.status = q.status;
    if (q.category_slug) {
      auto categories = Categories(reader);
      if (!categories) return DatabaseError(categories.error());
      for (const auto& c : **categories) {
        if (c.slug == *q.category_slug) context.category = c;
      }
      if (!context.category) return Outcome::Error(404, "There is no such category.");
    }
    auto threads = reader.ListThreads(q);
    if (!threads) return DatabaseError(threads.error());
    Outcome out;
    switch (route) {
      case Route::kFeed:
      case Route::kCategoryFeed:
        out.page = MakePage("application/atom+xml",
                            RenderThreadsFeed(options.info, context.category, threads->threads), true);
        break;
      case Route::kApiThreads:
        out.page = MakePage("application/json", RenderThreadListJson(options.info, *threads), true);
        break;
      default: {
        auto categories = Categories(reader);
        if (!categories) return DatabaseError(categories.error());
        context.categories = **categories;
        out.page =
            MakePage("text/html; charset=utf-8", RenderThreadList(options.info, context, *threads), true);
      }
    }
    out.page->last_modified = Newest(threads->threads);
    return out;
  }

  Outcome Thread(forum::Reader& reader, Route route, int64_t id) {
    auto thread = reader.GetThread(id);
    if (!thread) return DatabaseError(thread.error());
    if (!*thread) return Outcome::Error(404, "There is no such thread.");
    const forum::ThreadView& view = **thread;
    Outcome out;
    switch (route) {
      case Route::kThreadFeed:
        out.page = MakePage("application/atom+xml", RenderThreadFeed(options.info, view), true);
        break;
      case Route::kApiThread:
        out.page = MakePage("application/json", RenderThreadJson(options.info, view), true);
        break;
      default:
        out.page = MakePage("text/html; charset=utf-8", RenderThread(options.info, view), true);
    }
    out.page->thread_id = id;
    out.page->last_modified = ToTime(view.thread.changed_at);
    return out;
  }

  Outcome Search(forum::Reader& reader, Route route, const std::map<std::string, std::string>& query) {
    SearchForm form;
    if (auto q = query.find("q"); q != query.end()) form.text = q->second;
    if (auto c = query.find("category"); c != query.end() && !c->second.empty()) {
      if (!IsSlug(c->second)) return Outcome::Error(400, "Unknown category.");
      form.category_slug = c->second;
    }
    if (auto s = query.find("status"); s != query.end() && !s->second.empty()) {
      if (!IsStatus(s->second)) return Outcome::Error(400, "Unknown status: use open, answered or resolved.");
      form.status = s->second;
    }
    if (auto p = query.find("page"); p != query.end() && !p->second.empty()) {
      auto page = ParseId(p->second);
      if (!page || *page > forum::kMaxSearchOffset / kSearchLimit)
        return Outcome::Error(400, "No such page.");
      form.page = static_cast<int>(*page);
    }
    std::optional<forum::SearchResults> results;
    if (!Trim(form.text).empty()) {
      forum::SearchQuery q;
      q.text = form.text;
      q.category_slug = form.category_slug;
      q.status = form.status;
      q.limit = kSearchLimit;
      q.offset = (form.page - 1) * kSearchLimit;
      auto found = reader.Search(q);
      if (!found) return DatabaseError(found.error());
      results = std::move(*found);
    }
    Outcome out;
    if (route == Route::kApiSearch) {
      out.page = MakePage("application/json",
                          RenderSearchJson(options.info, results.value_or(forum::SearchResults{})), true);
    } else {
      auto categories = Categories(reader);
      if (!categories) return DatabaseError(categories.error());
      out.page =
          MakePage("text/html; charset=utf-8",
                   RenderSearch(options.info, form, **categories, results ? &*results : nullptr), true);
    }
    return out;
  }

  Response Attachment(const Request& request, int64_t thread_id, int64_t post_id, int64_t position,
                      Route route) {
    auto reader = Borrow();
    if (!reader) return ErrorPage(route, 503, "The forum is unavailable for a moment. Please try again.");
    // The post must belong to this (public) thread: one cheap look at the thread.
    auto thread = (*reader)->GetThread(thread_id);
    if (!thread) {
      Outcome o = DatabaseError(thread.error());
      return ErrorPage(route, o.status, o.message);
    }
    bool in_thread = false;
    if (*thread) {
      for (const auto& post : (*thread)->posts) in_thread = in_thread || post.id == post_id;
    }
    if (!in_thread || position > 100000) {
      Return(std::move(*reader));
      return ErrorPage(route, 404, "There is no such attachment.");
    }
    auto content = (*reader)->GetAttachment(post_id, static_cast<int>(position));
    if (!content) {
      Outcome o = DatabaseError(content.error());
      return ErrorPage(route, o.status, o.message);
    }
    Return(std::move(*reader));
    if (!*content) return ErrorPage(route, 404, "There is no such attachment.");
    const forum::AttachmentContent& a = **content;
    // Never what the mail declared: a text as text/plain, anything else as bytes to save.
    const bool text = Lower(a.content_type).starts_with("text/");
    Page page = MakePage(text ? "text/plain; charset=utf-8" : "application/octet-stream", a.bytes, false);
    page.last_modified = ToTime((*thread)->thread.changed_at);
    Response r = FromPage(request, page);
    r.AddHeader("Content-Disposition",
                "attachment; filename*=" + ExtValue(a.filename.empty() ? "attachment" : a.filename));
    return r;
  }

  // The database's view of the service (one round trip), or its error.
  base::Result<forum::ServiceHealth> ReadHealth() {
    auto reader = Borrow();
    if (!reader) return reader.error();
    auto health = (*reader)->Health(options.suppress_score);
    if (health) Return(std::move(*reader));
    return health;
  }

  Response Healthz() {
    Response r;
    auto health = ReadHealth();
    if (!health) {
      base::LogWarning("web: /healthz: " + health.error().message);
      r.status = 503;
      r.SetBody("{\n  \"database\": \"unreachable\",\n  \"status\": \"unavailable\"\n}\n");
    } else {
      const auto reports = forum::ReportMailboxes(*health, options.mailboxes, options.mailbox_failure_limit);
      bool failed = false;
      for (const auto& m : reports) failed = failed || m.condition == forum::MailboxCondition::kFailed;
      r.status = failed ? 503 : 200;
      r.SetBody(HealthJson(reports, *health, options.mailbox_failure_limit));
    }
    r.AddHeader("Content-Type", "application/json");
    r.AddHeader("Cache-Control", "no-store");
    return r;
  }

  Response MetricsText() {
    std::string out;
    out += "# HELP mailforum_web_requests_total HTTP requests answered, by route and status.\n";
    out += "# TYPE mailforum_web_requests_total counter\n";
    for (std::size_t route = 0; route < kRouteNames.size(); ++route) {
      for (std::size_t slot = 0; slot < kStatusSlots; ++slot) {
        uint64_t n = metrics.requests[route][slot].load(std::memory_order_relaxed);
        if (n == 0) continue;
        std::string status = slot + 1 < kStatusSlots ? std::to_string(kStatuses[slot]) : "other";
        out += "mailforum_web_requests_total{route=\"" + std::string(kRouteNames[route]) + "\",status=\"" +
               status + "\"} " + std::to_string(n) + "\n";
      }
    }
    auto [entries, bytes] = cache.Size();
    auto metric = [&](std::string_view name, std::string_view type, std::string_view help, uint64_t value) {
      out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " " +
             std::string(type) + "\n" + std::string(name) + " " + std::to_string(value) + "\n";
    };
    metric("mailforum_web_cache_hits_total", "counter", "Requests answered from the page cache.",
           metrics.cache_hits.load());
    metric("mailforum_web_cache_misses_total", "counter", "Cacheable requests rendered from the database.",
           metrics.cache_misses.load());
    metric("mailforum_web_cache_invalidations_total", "counter",
           "Change notifications that dropped cached pages.", metrics.invalidations.load());
    metric("mailforum_web_cache_entries", "gauge", "Pages in the cache.", entries);
    metric("mailforum_web_cache_bytes", "gauge", "Bytes of pages in the cache.", bytes);
    metric("mailforum_web_change_listener_up", "gauge",
           "1 while the cache invalidation listener is connected.", listening ? 1 : 0);
    metric("mailforum_web_search_rate_limited_total", "counter", "Search requests refused with 429.",
           metrics.rate_limited.load());
    metric("mailforum_web_open_connections", "gauge", "HTTP connections open now.",
           connection_gauge ? static_cast<uint64_t>(std::max<int64_t>(0, connection_gauge())) : 0);
    out += "# HELP mailforum_build_info Always 1; the version is a label.\n# TYPE mailforum_build_info gauge\n"
           "mailforum_build_info{version=\"" MAILFORUM_VERSION "\"} 1\n";
    auto health = ReadHealth();
    metric("mailforum_database_up", "gauge", "1 when the database answered this scrape.", health ? 1 : 0);
    if (health) {
      auto series = [&](std::string_view name, std::string_view type, std::string_view help, const auto& rows) {
        out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " " +
               std::string(type) + "\n";
        for (const auto& [labels, value] : rows) out += std::string(name) + labels + " " + value + "\n";
      };
      std::vector<std::pair<std::string, std::string>> success, failing_for, up;
      for (const auto& m : forum::ReportMailboxes(*health, options.mailboxes, options.mailbox_failure_limit)) {
        const std::string label = "{mailbox=\"" + PrometheusLabel(m.name) + "\"}";
        const int64_t failing_seconds = m.health == nullptr ? 0 : m.health->failing_for;
        up.emplace_back(label, m.condition == forum::MailboxCondition::kOk ? "1" : "0");
        failing_for.emplace_back(label, std::to_string(failing_seconds));
        if (m.health != nullptr && m.health->last_success_age) {
          success.emplace_back(label, std::to_string(*m.health->last_success_age));
        }
      }
      series("mailforum_mailbox_up", "gauge",
             "1 when the mailbox's last pass succeeded (0: failing, or never contacted).", up);
      series("mailforum_mailbox_failing_seconds", "gauge",
             "Seconds since the failing mailbox's last success (0 when it is not failing).", failing_for);
      series("mailforum_mailbox_last_success_age_seconds", "gauge",
             "Seconds since the mailbox's last successful pass.", success);
      metric("mailforum_outbox_due", "gauge", "Outbound mails due to be sent now.",
             static_cast<uint64_t>(health->outbox_due));
      metric("mailforum_outbox_pending", "gauge", "Outbound mails not yet sent (due or waiting to retry).",
             static_cast<uint64_t>(health->outbox_pending));
      metric("mailforum_outbox_oldest_due_age_seconds", "gauge",
             "How long the oldest due outbound mail has been due (0: none due).",
             static_cast<uint64_t>(std::max<int64_t>(0, health->oldest_due_age.value_or(0))));
      metric("mailforum_suppressed_addresses", "gauge", "Addresses whose bounce score stops mail to them.",
             static_cast<uint64_t>(health->suppressed_addresses));
    }
    // This process's own counters (in mailforumd: messages, IMAP, SMTP, loop breaker; base/metrics.h).
    out += base::RenderMetrics();
    Response r;
    r.AddHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.AddHeader("Cache-Control", "no-store");
    r.SetBody(std::move(out));
    return r;
  }

  // /unsubscribe/TOKEN (issue 12): GET and HEAD show what the link stops and
  // a button; POST (the button, or a mail provider's RFC 8058 one-click)
  // records the unsubscription, again and again with the same answer. A
  // token that names no row, or whose signature does not verify for that
  // row's recipient and scope, gets 404 and changes nothing. Never cached.
  Response Unsubscribe(const Request& request, std::string_view token) {
    constexpr std::string_view kInvalid = "This unsubscribe link is not valid. Nothing was changed.";
    if (!options.unsubscribe_row || !options.unsubscribe_verify) {
      return ErrorPage(Route::kUnsubscribe, 404, "There is no page at this address.");
    }
    const std::optional<int64_t> row = options.unsubscribe_row(token);
    if (!row) return ErrorPage(Route::kUnsubscribe, 404, kInvalid);
    auto reader = Borrow();
    if (!reader) {
      Outcome o = DatabaseError(reader.error());
      return ErrorPage(Route::kUnsubscribe, o.status, o.message);
    }
    auto target = (*reader)->FindUnsubscribeTarget(*row);
    if (!target) {
      Outcome o = DatabaseError(target.error());
      return ErrorPage(Route::kUnsubscribe, o.status, o.message);
    }
    const std::string scope = target->has_value() ? (*target)->scope() : "";
    if (scope.empty() || !options.unsubscribe_verify(token, (*target)->recipient, scope)) {
      return ErrorPage(Route::kUnsubscribe, 404, kInvalid);
    }
    if (std::find(options.list_addresses.begin(), options.list_addresses.end(), (*target)->recipient) !=
        options.list_addresses.end()) {
      return ErrorPage(Route::kUnsubscribe, 403,
                       "This mail went to a mailing list, which one member cannot unsubscribe. Filter it by "
                       "its List-Id, or ask the list's owner. Nothing was changed.");
    }
    UnsubscribeView view;
    view.confirm = request.method != "POST";
    view.action = "/unsubscribe/" + std::string(token);
    view.who = AuthorLabel(forum::Author{"", (*target)->recipient}, AuthorDisplay::kMasked);
    const std::string words = forum::DescribeScope(scope);
    view.what = scope.starts_with("category:") ? "notifications of " + words
                : scope.starts_with("thread:") ? "mail about " + words
                                               : words;
    if (!view.confirm) {
      if (auto done = (*reader)->Unsubscribe((*target)->recipient, scope); !done.ok()) {
        Outcome o = DatabaseError(done.error());
        return ErrorPage(Route::kUnsubscribe, o.status, o.message);
      }
      base::LogInfo("web: " + (*target)->recipient + " unsubscribed from " + words + " (one-click)");
    }
    Response r;
    r.AddHeader("Content-Type", "text/html; charset=utf-8");
    r.AddHeader("Cache-Control", "no-store");
    r.SetBody(RenderUnsubscribe(options.info, view));
    return r;
  }

  // Routes, checks limits, and answers from the cache or the database.
  Response Dispatch(const Request& request, Route& route) {
    std::string_view target = request.target;
    std::size_t question = target.find('?');
    std::string_view path = target.substr(0, question);
    std::string_view query_text =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    std::vector<std::string_view> parts;
    for (std::string_view rest = path; !rest.empty();) {
      if (rest.front() != '/') break;
      rest.remove_prefix(1);
      std::size_t slash = rest.find('/');
      parts.push_back(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    if (path.empty() || path.front() != '/')
      return ErrorPage(route = Route::kNotFound, 404, "There is no page here.");
    if (parts.size() == 1 && parts[0].empty()) parts.clear();  // "/"

    std::optional<std::string> slug;
    int64_t id = 0, post = 0, position = 0;
    route = Route::kNotFound;
    const std::size_t n = parts.size();
    if (n == 0) {
      route = Route::kList;
    } else if (n == 1 && parts[0] == "search") {
      route = Route::kSearch;
    } else if (n == 1 && parts[0] == "feed.atom") {
      route = Route::kFeed;
    } else if (n == 1 && parts[0] == "healthz") {
      route = Route::kHealthz;
    } else if (n == 1 && parts[0] == "metrics") {
      route = Route::kMetrics;
    } else if (n == 2 && parts[0] == "static" && parts[1] == "style.css") {
      route = Route::kStatic;
    } else if (parts[0] == "c" && (n == 2 || (n == 3 && parts[2] == "feed.atom")) && IsSlug(parts[1])) {
      route = n == 2 ? Route::kCategory : Route::kCategoryFeed;
      slug = std::string(parts[1]);
    } else if (parts[0] == "t" && n >= 2 && ParseId(parts[1])) {
      id = *ParseId(parts[1]);
      if (n == 2) {
        route = Route::kThread;
      } else if (n == 3 && parts[2] == "feed.atom") {
        route = Route::kThreadFeed;
      } else if (n == 5 && parts[2] == "attachments" && ParseId(parts[3]) &&
                 (parts[4] == "0" || ParseId(parts[4]))) {
        route = Route::kAttachment;
        post = *ParseId(parts[3]);
        position = parts[4] == "0" ? 0 : *ParseId(parts[4]);
      }
    } else if (n == 2 && parts[0] == "unsubscribe") {
      route = Route::kUnsubscribe;
    } else if (parts[0] == "api" && n >= 2) {
      if (n == 2 && parts[1] == "threads") {
        route = Route::kApiThreads;
      } else if (n == 3 && parts[1] == "threads" && ParseId(parts[2])) {
        route = Route::kApiThread;
        id = *ParseId(parts[2]);
      } else if (n == 2 && parts[1] == "search") {
        route = Route::kApiSearch;
      }
    }

    // Only the one-click unsubscribe link takes a POST (RFC 8058).
    if (request.method == "POST" && route != Route::kUnsubscribe) {
      Response r = ErrorPage(route, 405, "Only GET and HEAD are served here.");
      r.AddHeader("Allow", "GET, HEAD");
      return r;
    }
    switch (route) {
      case Route::kNotFound:
        return ErrorPage(route, 404, "There is no page at this address.");
      case Route::kUnsubscribe:
        return Unsubscribe(request, parts[1]);
      case Route::kHealthz:
        return Healthz();
      case Route::kMetrics:
        return MetricsText();
      case Route::kStatic:
        return FromPage(request, *stylesheet);
      case Route::kAttachment:
        return Attachment(request, id, post, position, route);
      default:
        break;
    }

    auto query = ParseQuery(query_text);
    if (route == Route::kSearch || route == Route::kApiSearch) {
      if (auto q = query.find("q"); q != query.end() && Utf8Length(q->second) > options.max_query_chars) {
        return ErrorPage(route, 400, "The search text is too long.");
      }
      if (int wait = limiter.Take(request.client_address); wait > 0) {
        ++metrics.rate_limited;
        return ErrorPage(route, 429, "Too many searches: please wait a moment.", wait);
      }
    }

    // The cache is only trusted while the listener would hear of changes.
    const bool use_cache = listening.load();
    // Keyed by the path and the parameters that matter, so that junk
    // parameters (?x=random) neither miss the cache nor flood it.
    std::string key(path);
    for (const auto& [name, value] : query) {
      if (name == "status" || name == "after" || name == "category" || name == "q" || name == "page") {
        // Length-prefixed: a decoded value holding "&x=" cannot pose as another parameter.
        key += "?" + name + "=" + std::to_string(value.size()) + ":" + value;
      }
    }
    if (use_cache) {
      if (auto page = cache.Find(key)) {
        ++metrics.cache_hits;
        return FromPage(request, *page);
      }
    }
    ++metrics.cache_misses;
    const uint64_t generation = cache.generation();
    auto reader = Borrow();
    if (!reader) {
      Outcome o = DatabaseError(reader.error());
      return ErrorPage(route, o.status, o.message);
    }
    Outcome outcome;
    switch (route) {
      case Route::kList:
      case Route::kCategory:
      case Route::kFeed:
      case Route::kCategoryFeed:
      case Route::kApiThreads:
        outcome = List(**reader, route, slug, query);
        break;
      case Route::kThread:
      case Route::kThreadFeed:
      case Route::kApiThread:
        outcome = Thread(**reader, route, id);
        break;
      default:
        outcome = Search(**reader, route, query);
        break;
    }
    // A reader that failed may have lost its connection: it is not reused.
    if (outcome.page || outcome.status < 500) Return(std::move(*reader));
    if (!outcome.page) return ErrorPage(route, outcome.status, outcome.message, outcome.retry_after);
    auto page = std::make_shared<const Page>(std::move(*outcome.page));
    if (use_cache) cache.Insert(key, page, generation);
    return FromPage(request, *page);
  }
};

Site::Site(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

base::Result<std::unique_ptr<Site>> Site::Create(SiteOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  auto first = forum::Reader::Connect(impl->options.dsn);
  if (!first) return first.error();
  // One-click unsubscription is the web's one write: say now, not at the first click, that it would fail.
  if (impl->options.unsubscribe_verify) {
    if (auto may = (*first)->MayUnsubscribe(); may && !*may) {
      base::LogWarning(
          "web: this database role may not call mailforum_unsubscribe: one-click unsubscribe links will fail "
          "(500) until it is granted: GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text) TO "
          "<the web's role>");
    }
  }
  impl->Return(std::move(*first));
  Page css = MakePage("text/css; charset=utf-8", std::string(Stylesheet()), true);
  css.cache_control = "public, max-age=" + std::to_string(impl->options.static_max_age_seconds);
  impl->stylesheet = std::make_shared<const Page>(std::move(css));
  Impl* raw = impl.get();
  impl->listener = std::thread([raw] { raw->Listen(); });
  return std::unique_ptr<Site>(new Site(std::move(impl)));
}

Site::~Site() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->listener.joinable()) impl_->listener.join();
}

Response Site::Handle(const Request& request) {
  Route route = Route::kServer;
  Response r;
  try {
    r = impl_->Dispatch(request, route);
  } catch (const std::exception& e) {
    base::LogError(std::string("web: ") + e.what());
    r = impl_->ErrorPage(route, 500, "Something went wrong on our side.");
  }
  AddSecurityHeaders(r);
  impl_->metrics.requests[static_cast<std::size_t>(route)][StatusSlot(r.status)].fetch_add(
      1, std::memory_order_relaxed);
  return r;
}

Response Site::ErrorResponse(int status) {
  std::string_view message = "The request could not be read.";
  switch (status) {
    case 405:
      message = "Only GET and HEAD are served here.";
      break;
    case 413:
      message = "The request is too large.";
      break;
    case 414:
      message = "The address is too long.";
      break;
    case 431:
      message = "The request headers are too large.";
      break;
    default:
      break;
  }
  Response r = impl_->ErrorPage(Route::kServer, status, message);
  AddSecurityHeaders(r);
  impl_->metrics.requests[static_cast<std::size_t>(Route::kServer)][StatusSlot(status)].fetch_add(1);
  return r;
}

void Site::SetConnectionGauge(std::function<int64_t()> gauge) { impl_->connection_gauge = std::move(gauge); }

bool Site::Listening() const { return impl_->listening.load(); }

}  // namespace web

-- wrk script of the web benchmark (bench/web_bench.sh): which URLs a run asks for, and one
-- machine-readable result line at the end.
--
-- WEB_BENCH_MODE (environment) picks the URLs:
--   fixed     the URL given to wrk, every time (warm cache; the static baseline)
--   thread    /t/ID of a random public thread (cache cold: 90,000 threads)
--   list      /?after=CURSOR after a random public thread (keyset pages all over the list)
--   category  /c/SLUG?after=CURSOR after a random thread of that thread's category
--   search    /search?q=WORD or two words, drawn from the generator's vocabulary
-- WEB_BENCH_DATA: the generator's directory (public_threads.txt, search_words.txt).
-- Every request says "Accept-Encoding: gzip", as browsers do (WEB_BENCH_ENCODING=identity: none), so
-- a cold page's cost includes compressing it.
-- The last line wrk prints is
--   WEB_BENCH requests=N seconds=S rps=R p50_ms=A p99_ms=B non2xx=N errors=N

local mode = os.getenv("WEB_BENCH_MODE") or "fixed"
local data = os.getenv("WEB_BENCH_DATA") or "."
local threads = {}
local words = {}
local counter = 0
local headers = {}
if (os.getenv("WEB_BENCH_ENCODING") or "gzip") == "gzip" then headers["Accept-Encoding"] = "gzip" end

local function read_lines(path, each)
  local f = assert(io.open(path, "r"), "cannot read " .. path)
  for line in f:lines() do each(line) end
  f:close()
end

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  if mode == "thread" or mode == "list" or mode == "category" then
    read_lines(data .. "/public_threads.txt", function(line)
      local id, slug, cursor = line:match("^(%d+) (%S+) (%S+)$")
      if id then threads[#threads + 1] = { id = id, slug = slug, cursor = cursor } end
    end)
  elseif mode == "search" then
    read_lines(data .. "/search_words.txt", function(line)
      if #words < 300 and line:match("^%a+$") then words[#words + 1] = line end
    end)
  end
end

function request()
  if mode == "thread" then
    local t = threads[math.random(#threads)]
    return wrk.format("GET", "/t/" .. t.id, headers)
  elseif mode == "list" then
    local t = threads[math.random(#threads)]
    return wrk.format("GET", "/?after=" .. t.cursor, headers)
  elseif mode == "category" then
    local t = threads[math.random(#threads)]
    return wrk.format("GET", "/c/" .. t.slug .. "?after=" .. t.cursor, headers)
  elseif mode == "search" then
    local q = words[math.random(#words)]
    if math.random(2) == 1 then q = q .. "+" .. words[math.random(#words)] end
    return wrk.format("GET", "/search?q=" .. q, headers)
  end
  return wrk.format("GET", wrk.path, headers)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  print(string.format(
    "WEB_BENCH requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

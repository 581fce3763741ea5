#!/usr/bin/env bash
# The web benchmark (issue 9 item 7): mailforum-web over a database of 100,000
# threads and 500,000 posts, measured with wrk from Debian, 64 connections.
#
# 1. A private PostgreSQL 15 (fsync and synchronous_commit on, as shipped; the
#    benchmark only reads) in $MAILFORUM_WEB_BENCH_PG (default /tmp/mf-bench-web).
# 2. The data set, made fast: bench/web_data_generator writes COPY text of the
#    corpus generator's mail, parsed and trimmed as ingest does; the schema is
#    built up to version 5 from forum/migrations, the files are loaded with
#    `psql \copy` (triggers and foreign-key checks off for the load:
#    session_replication_role = replica; the data are consistent by
#    construction), then `mailforumctl migrate` applies migration 0006 and
#    later, which fill in and index what the web adds (reply counts, change
#    times, search vectors) exactly as on an upgraded installation; VACUUM
#    ANALYZE last. The load is kept: a second run reuses it (--reload to redo).
# 3. mailforum-web -c FILE on 127.0.0.1 (a free port), then wrk -t2 -c64 -d10s
#    --latency with bench/web_bench.lua: the static baseline /static/style.css,
#    the thread list /, a category page and a thread page, each warm (one URL
#    repeated: the page cache answers) and cold (random public threads and
#    keyset cursors over the whole set: the cache misses), and search (one or
#    two random words of the generator's vocabulary); the static baseline
#    again at the end. It prints req/s, p50, p99 and the ratio to the static
#    baseline for each, the web process's peak RSS (VmHWM), and the load time.
#    Bars: list/category/thread warm >= 5,000 req/s with p99 <= 20 ms, cold
#    >= 1,000 req/s, search p99 <= 100 ms. A missed bar prints MISSED.
# Results: $BUILD/bench-results/web_bench.txt. Exit status 1 when a bar is
# missed, 2 on an error.
#
# wrk and the server share this machine's cores: run it on an otherwise idle
# machine (the load average is printed beside the figures).
#
# usage: bench/web_bench.sh [--reload] [--keep] [--no-build] [--load-only]
#   --reload    drop the database and load it again
#   --load-only make and load the data set, measure nothing (implies --keep)
#   --keep      leave PostgreSQL running afterwards (the next run starts faster)
#   --no-build  use the binaries already in $BUILD
# env: MAILFORUM_BUILD_DIR (default build), WEB_BENCH_DURATION (default 10s), WEB_BENCH_ENCODING
#      (default gzip, as browsers ask; identity: no Accept-Encoding),
#      MAILFORUM_WEB_BENCH_PG (PostgreSQL's directory), MAILFORUM_WEB_BENCH_WORK (data, default $BUILD/web-bench),
#      WEB_BENCH_THREADS / WEB_BENCH_POSTS (default 100000 / 500000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MAILFORUM_BUILD_DIR:-$ROOT/build}
RESULTS="$BUILD/bench-results"
WORK=${MAILFORUM_WEB_BENCH_WORK:-$BUILD/web-bench}
PGDIR=${MAILFORUM_WEB_BENCH_PG:-/tmp/mf-bench-web}
PGBIN=/usr/lib/postgresql/15/bin
DURATION=${WEB_BENCH_DURATION:-10s}
THREADS=${WEB_BENCH_THREADS:-100000}
POSTS=${WEB_BENCH_POSTS:-500000}
DB=mailforum_web_bench

reload=0 keep=0 build=1 load_only=0
for arg in "$@"; do
  case "$arg" in
    --reload) reload=1 ;;
    --keep) keep=1 ;;
    --no-build) build=0 ;;
    --load-only) load_only=1 keep=1 ;;
    *) sed -n '/^# usage/,/^# env/p' "$0" >&2; exit 2 ;;
  esac
done

mkdir -p "$RESULTS" "$WORK"
OUT="$RESULTS/web_bench.txt"
say() { echo "$*" | tee -a "$OUT"; }

if [ "$build" -eq 1 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$BUILD.configure.log" 2>&1 \
      || { cat "$BUILD.configure.log"; exit 2; }
  fi
  targets="web_data_generator mailforumctl"
  [ "$load_only" -eq 1 ] || targets="$targets mailforum-web"
  # shellcheck disable=SC2086  # the targets are words
  cmake --build "$BUILD" -j "$(nproc)" --target $targets
fi
WEB_BIN=$(find "$BUILD" -name mailforum-web -type f -perm -u+x | head -1)
CTL_BIN=$(find "$BUILD" -name mailforumctl -type f -perm -u+x | head -1)
GEN_BIN="$BUILD/bench/web_data_generator"
[ "$load_only" -eq 1 ] && WEB_BIN=/bin/true
for b in "$WEB_BIN" "$CTL_BIN" "$GEN_BIN"; do
  [ -x "$b" ] || { echo "web_bench: missing binary (mailforum-web, mailforumctl, web_data_generator) in $BUILD" >&2; exit 2; }
done

as_postgres() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# --- PostgreSQL ---
WEB_PID=""
cleanup() {
  if [ -n "$WEB_PID" ] && kill -0 "$WEB_PID" 2>/dev/null; then kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null || true; fi
  if [ "$keep" -eq 0 ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop > /dev/null || true
  fi
}
trap cleanup EXIT

if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  mkdir -p "$PGDIR"
  chmod 755 "$PGDIR"
  PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  [ "$(id -u)" -eq 0 ] && chown postgres "$PGDIR"
  as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U mailforum --auth=trust -E UTF8 --no-locale > "$PGDIR/initdb.log"
  cat >> "$PGDIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDIR'
fsync = on
synchronous_commit = on
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 32MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
max_connections = 200
default_toast_compression = lz4
CONF
  echo "$PORT" > "$PGDIR/port"
fi
PORT=$(cat "$PGDIR/port")
if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" status > /dev/null 2>&1; then
  as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -t 120 -l "$PGDIR/log" start < /dev/null > /dev/null
fi
DSN="host=127.0.0.1 port=$PORT user=mailforum dbname=$DB"
ADMIN="host=127.0.0.1 port=$PORT user=mailforum dbname=postgres"
psql_db() { psql -X -q -v ON_ERROR_STOP=1 "$DSN" "$@"; }

# --- configuration (the secrets are dummies: mailforum-web must not need them) ---
CONF="$WORK/bench.yaml"
echo "$DSN" > "$WORK/db.dsn"
head -c 32 /dev/urandom | base64 > "$WORK/reply.key"
echo unused > "$WORK/imap.pass"
echo unused > "$WORK/smtp.pass"
chmod 600 "$WORK/db.dsn" "$WORK/reply.key" "$WORK/imap.pass" "$WORK/smtp.pass"
cat > "$CONF" <<YAML
# The web benchmark's configuration (bench/web_bench.sh). Mail servers are never contacted.
instance: {name: "Bench Help", base_url: "http://127.0.0.1", domain: bench.example}
database: {dsn_file: db.dsn}
secrets: {reply_key_file: reply.key}
smtp: {host: 127.0.0.1, port: 1, tls: none, username: help, password_file: smtp.pass,
       from: "Bench Help <help@bench.example>", reply_to: "help+{token}@bench.example"}
# wrk's 64 connections all come from 127.0.0.1: the per-client search limit would answer most with 429.
web: {listen: "127.0.0.1:0", search_per_minute: 1000000, search_burst: 100000}
categories:
  - {slug: accounts, name: "Accounts and passwords"}
  - {slug: hardware, name: "Hardware"}
  - {slug: network, name: "Network and VPN"}
  - {slug: printing, name: "Printing"}
  - {slug: software, name: "Software"}
  - {slug: facilities, name: "Facilities"}
  - {slug: hr-cases, name: "HR cases", public: false}
mailboxes:
  - name: help
    imap: {host: 127.0.0.1, port: 1, tls: none, username: help, password_file: imap.pass}
    rules: [{name: all, action: thread, category: accounts}]
YAML

# --- the data set ---
: > "$OUT"
say "web_bench $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, build $(basename "$BUILD"), git $(git -C "$ROOT" rev-parse --short HEAD)"
loaded=$(psql -X -tA "$ADMIN" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" || true)
if [ "$reload" -eq 1 ] || [ "$loaded" != "1" ] || [ ! -f "$WORK/loaded" ]; then
  rm -f "$WORK/loaded"
  psql -X -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  t0=$(date +%s.%N)
  if [ ! -f "$WORK/data/summary.txt" ] || ! grep -q "^threads $THREADS .*posts $POSTS," "$WORK/data/summary.txt"; then
    "$GEN_BIN" --out "$WORK/data" --threads "$THREADS" --posts "$POSTS" > /dev/null
  fi
  t1=$(date +%s.%N)
  # Schema version 5, as `mailforumctl migrate` would leave it (same bookkeeping table).
  {
    echo "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
    echo "  applied_at timestamptz NOT NULL DEFAULT now());"
    for f in "$ROOT"/forum/migrations/000[1-5]_*.sql; do
      echo "BEGIN;"; cat "$f"; echo ";"
      n=$(basename "$f" .sql)
      echo "INSERT INTO schema_migrations (version, name) VALUES (${n%%_*}, '$n');"
      echo "COMMIT;"
    done
  } | psql_db > /dev/null
  # posts.search (generated at version 5) is dropped and remade by 0006: make it
  # a plain column now so that the load does not compute it twice.
  D="$WORK/data"
  psql_db > /dev/null <<SQL
ALTER TABLE posts DROP COLUMN search;
ALTER TABLE posts ADD COLUMN search tsvector;
SET session_replication_role = replica;
\copy categories (id, slug, name, description) FROM '$D/categories.copy'
\copy threads (id, category_id, subject, status, tags, author_address, author_name, accepted_post_id, created_at, last_post_at) FROM '$D/threads.copy'
\copy posts (id, thread_id, parent_post_id, author_address, author_name, body, elided, message_id, created_at, author_verified) FROM '$D/posts.copy'
\copy attachments (id, sha256, size, content) FROM '$D/attachments.copy'
\copy post_attachments (post_id, attachment_id, position, filename, content_type, content_id) FROM '$D/post_attachments.copy'
SELECT setval('categories_id_seq', (SELECT max(id) FROM categories));
SELECT setval('threads_id_seq', (SELECT max(id) FROM threads));
SELECT setval('posts_id_seq', (SELECT max(id) FROM posts));
SELECT setval('attachments_id_seq', (SELECT max(id) FROM attachments));
SQL
  t2=$(date +%s.%N)
  "$CTL_BIN" migrate -c "$CONF" | tail -3
  t3=$(date +%s.%N)
  psql_db -c "UPDATE categories SET public = (slug <> 'hr-cases')" -c "VACUUM (ANALYZE)"
  t4=$(date +%s.%N)
  printf 'generate %.0f s, load (COPY, schema 5) %.0f s, migrate 0006+ %.0f s, vacuum analyze %.0f s: total %.0f s\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)" "$(echo "$t4 - $t3" | bc)" \
    "$(echo "$t4 - $t0" | bc)" > "$WORK/loaded"
fi
say "data set: $(head -1 "$WORK/data/summary.txt")"
say "           $(sed -n 2p "$WORK/data/summary.txt")"
say "load time: $(cat "$WORK/loaded")"
say "database:  $(psql -X -tA "$DSN" -c "SELECT pg_size_pretty(pg_database_size(current_database())) || ', schema ' || max(version) FROM schema_migrations")"
if [ "$load_only" -eq 1 ]; then echo "web_bench: loaded; PostgreSQL left running: $DSN"; exit 0; fi

# --- the web process ---
LOG="$WORK/web.log"
"$WEB_BIN" -c "$CONF" < /dev/null > "$LOG" 2>&1 &
WEB_PID=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(grep -o 'listening on http://[0-9.:]*' "$LOG" | head -1 | sed 's/listening on //' || true)
  [ -n "$URL" ] && break
  kill -0 "$WEB_PID" 2>/dev/null || { cat "$LOG"; echo "web_bench: mailforum-web exited" >&2; exit 2; }
  sleep 0.1
done
[ -n "$URL" ] || { cat "$LOG"; echo "web_bench: mailforum-web did not say where it listens" >&2; exit 2; }
say "mailforum-web pid $WEB_PID at $URL; wrk -t2 -c64 -d$DURATION --latency --timeout 10s; requests say Accept-Encoding: ${WEB_BENCH_ENCODING:-gzip}"

# A public thread of median size for the warm thread page, and a category.
WARM_THREAD=$(psql -X -tA "$DSN" -c "SELECT t.id FROM threads t JOIN categories c ON c.id = t.category_id
  WHERE c.public AND t.post_count = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY post_count) FROM threads)
  ORDER BY t.id LIMIT 1")
WARM_CATEGORY=network

declare -A RPS P50 P99 NON2XX ERRORS
run() {  # name, mode, path
  local name=$1 mode=$2 path=$3 line
  curl -s -o /dev/null "$URL$path" || true  # warm cases: the first request fills the cache
  line=$(WEB_BENCH_MODE=$mode WEB_BENCH_DATA="$WORK/data" \
    wrk -t2 -c64 -d"$DURATION" --latency --timeout 10s -s "$ROOT/bench/web_bench.lua" "$URL$path" | tee "$WORK/wrk-$name.txt" |
    grep '^WEB_BENCH ' || true)
  [ -n "$line" ] || { cat "$WORK/wrk-$name.txt"; echo "web_bench: wrk failed for $name" >&2; exit 2; }
  RPS[$name]=$(sed 's/.* rps=\([0-9.]*\).*/\1/' <<< "$line")
  P50[$name]=$(sed 's/.* p50_ms=\([0-9.]*\).*/\1/' <<< "$line")
  P99[$name]=$(sed 's/.* p99_ms=\([0-9.]*\).*/\1/' <<< "$line")
  NON2XX[$name]=$(sed 's/.* non2xx=\([0-9]*\).*/\1/' <<< "$line")
  ERRORS[$name]=$(sed 's/.* errors=\([0-9]*\).*/\1/' <<< "$line")
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run static fixed /static/style.css
run list_warm fixed /
run category_warm fixed "/c/$WARM_CATEGORY"
run thread_warm fixed "/t/$WARM_THREAD"
run list_cold list /
run category_cold category /
run thread_cold thread /
run search search /search
run static_end fixed /static/style.css
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
HWM=$(awk '/^VmHWM/ {print $2, $3}' "/proc/$WEB_PID/status")

missed=0
say ""
say "$(printf '%-15s %10s %9s %9s %9s %8s %7s  %s' case req/s p50_ms p99_ms vs_static non2xx errors bar)"
row() {  # name, bar text, verdict
  local ratio
  ratio=$(echo "scale=3; ${RPS[$1]} / ${RPS[static]}" | bc)
  say "$(printf '%-15s %10.0f %9.2f %9.2f %8.3fx %8s %7s  %s %s' "$1" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" \
    "$ratio" "${NON2XX[$1]}" "${ERRORS[$1]}" "$2" "$3")"
  if [ "$3" = MISSED ]; then missed=1; fi
}
verdict() { if [ "$(echo "$1" | bc)" -eq 1 ]; then echo ok; else echo MISSED; fi; }
for n in static static_end; do row "$n" "(baseline)" ""; done
for n in list_warm category_warm thread_warm; do
  row "$n" ">=5000/s p99<=20ms" "$(verdict "${RPS[$n]} >= 5000 && ${P99[$n]} <= 20")"
done
for n in list_cold category_cold thread_cold; do row "$n" ">=1000/s" "$(verdict "${RPS[$n]} >= 1000")"; done
row search "p99<=100ms" "$(verdict "${P99[search]} <= 100")"
say ""
say "warm thread /t/$WARM_THREAD, warm category /c/$WARM_CATEGORY; non2xx counts 4xx/5xx answers, errors socket errors and timeouts (10 s)"
say "peak RSS of mailforum-web (VmHWM): $HWM"
say "load average before $LOAD_BEFORE, after $LOAD_AFTER (wrk and the server share the cores)"
if [ "$missed" -eq 1 ]; then say "web_bench: a bar was MISSED (see above)"; fi
echo "results: $OUT"
exit "$missed"

#!/usr/bin/env bash
# The real browser test (issue 9): real mail through the real ingest path into
# a real mailforumd, read by Debian's headless Chromium.
#
#   1. npm ci of tests/browser's pinned packages (playwright-core, axe-core)
#      into BUILD/tests/browser/node_modules (again only when the lock changed);
#   2. a database, a Dovecot user, secrets and a configuration of its own on the
#      test servers scripts/test started (two categories, "staff" private);
#   3. APPENDs fixtures/*.eml to Dovecot, starts mailforumd (foreground, not
#      --once), waits for its "web: listening on" line and for one inbound row
#      per fixture (events, never a fixed sleep);
#   4. runs browser_test.js against it (screenshots in BUILD/tests/browser/shots);
#   5. kills the daemon by its pid, whatever happened.
#
# usage: tests/browser/run.sh BUILD_DIR
# env:   MAILFORUM_TEST_* (scripts/testenv/start's env file); MAILFORUM_CHROMIUM
#        (default /usr/bin/chromium). A missing server skips (exit 77) outside
#        scripts/test and fails under it (MAILFORUM_TEST_REQUIRE_SERVERS=1), like
#        every integration test; a missing Chromium, node or npm always fails.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
CHROMIUM=${MAILFORUM_CHROMIUM:-/usr/bin/chromium}
PY=/usr/bin/python3
START=$(date +%s)

fail() { echo "browser test: FAIL: $*" >&2; exit 1; }

[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (scripts/setup installs Debian's chromium)"
command -v node > /dev/null || fail "node is missing (scripts/setup)"
command -v npm > /dev/null || fail "npm is missing (scripts/setup)"
for tool in "$BUILD/daemon/mailforumd" "$BUILD/cli/mailforumctl"; do
  [ -x "$tool" ] || fail "$tool is not built"
done
for var in MAILFORUM_TEST_PG_DSN MAILFORUM_TEST_IMAPS_PORT MAILFORUM_TEST_IMAP_PASSWORD MAILFORUM_TEST_CA_FILE \
           MAILFORUM_TEST_SMTP_PORT; do
  if [ -z "${!var:-}" ]; then
    if [ "${MAILFORUM_TEST_REQUIRE_SERVERS:-}" = "1" ]; then fail "$var is not set: the test servers are missing"; fi
    echo "browser test: $var is not set; run scripts/test to start the test servers (skipped)"
    exit 77
  fi
done

# --- 1. the npm packages, pinned by package-lock.json ---
NODE_DIR="$BUILD/tests/browser"
mkdir -p "$NODE_DIR"
if ! cmp -s "$HERE/package-lock.json" "$NODE_DIR/package-lock.json" || [ ! -d "$NODE_DIR/node_modules/playwright-core" ] \
   || [ ! -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ]; then
  cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
fi

# --- 2. database, mailbox user, secrets, configuration ---
RUN=$(mktemp -d /tmp/mfbr.XXXXXX)
NAME="browser$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
DAEMON_PID=""
cleanup() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2> /dev/null; then
    kill -TERM "$DAEMON_PID" 2> /dev/null || true
    for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2> /dev/null || true
    wait "$DAEMON_PID" 2> /dev/null || true
  fi
  if [ $rc -ne 0 ] && [ -f "$RUN/daemon.log" ]; then
    echo "--- mailforumd log (last 40 lines; all of it in $RUN/daemon.log) ---"
    tail -n 40 "$RUN/daemon.log"
  fi
  if [ $rc -eq 0 ]; then
    psql "$MAILFORUM_TEST_PG_DSN" -qc "DROP DATABASE IF EXISTS $NAME" > /dev/null 2>&1 || true
    rm -rf "$RUN"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

umask 077
echo "$MAILFORUM_TEST_PG_DSN" | sed "s/dbname=postgres/dbname=$NAME/" > "$RUN/db.dsn"
head -c 32 /dev/urandom | base64 > "$RUN/reply.key"
echo "$MAILFORUM_TEST_IMAP_PASSWORD" > "$RUN/imap.pass"
umask 022
psql "$MAILFORUM_TEST_PG_DSN" -qc "CREATE DATABASE $NAME" > /dev/null || fail "cannot create database $NAME"
DB_DSN=$(cat "$RUN/db.dsn")

# base_url names a host nobody serves: a page that loads anything by its
# absolute URL would leave the origin, and the test sees that request.
cat > "$RUN/mailforum.yaml" <<YAML
instance: {name: "Browser Test Help", base_url: "http://browser-test.invalid", domain: browser.example}
database: {dsn_file: db.dsn}
secrets: {reply_key_file: reply.key}
smtp: {host: localhost, port: $MAILFORUM_TEST_SMTP_PORT, tls: starttls, ca_file: $MAILFORUM_TEST_CA_FILE,
       from: "Browser Help <help@browser.example>", reply_to: "help+{token}@browser.example"}
auth: {trusted_authserv_ids: [mx.browser.example]}
limits: {new_threads_per_sender_per_hour: 100000}
categories:
  - {slug: general, name: "General questions", description: "Printers, laptops and everything else."}
  - {slug: staff, name: "Staff only", description: "Payroll and personnel matters.", public: false}
mailboxes:
  - name: help
    imap: {host: localhost, port: $MAILFORUM_TEST_IMAPS_PORT, tls: implicit, ca_file: $MAILFORUM_TEST_CA_FILE,
           username: $NAME, password_file: imap.pass, poll_interval: 1s}
    after: {action: move, folder: Processed}
    quarantine_folder: Quarantine
    acknowledge: false
    rules:
      - {name: staff, match: {subject: "(?i)^\\\\[staff\\\\]"}, action: thread, category: staff}
      - {name: rest, action: thread, category: general}
web: {listen: "127.0.0.1:0"}
YAML
"$BUILD/cli/mailforumctl" migrate -c "$RUN/mailforum.yaml" > "$RUN/migrate.log" 2>&1 \
  || { cat "$RUN/migrate.log"; fail "mailforumctl migrate failed"; }

# --- 3. the fixtures through IMAP APPEND, then the daemon ---
FIXTURES=$(ls "$HERE"/fixtures/*.eml | wc -l)
"$PY" - "$HERE/fixtures" "$NAME" <<'PYEOF' || fail "IMAP APPEND failed"
import glob, imaplib, os, ssl, sys
ctx = ssl.create_default_context(cafile=os.environ["MAILFORUM_TEST_CA_FILE"])
imap = imaplib.IMAP4_SSL("localhost", int(os.environ["MAILFORUM_TEST_IMAPS_PORT"]), ssl_context=ctx)
imap.login(sys.argv[2], os.environ["MAILFORUM_TEST_IMAP_PASSWORD"])
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.eml"))):
    with open(path, "rb") as f:
        raw = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    typ, data = imap.append("INBOX", None, None, raw)
    if typ != "OK":
        sys.exit(f"APPEND {path}: {typ} {data}")
imap.logout()
PYEOF

"$BUILD/daemon/mailforumd" -c "$RUN/mailforum.yaml" < /dev/null > "$RUN/daemon.log" 2>&1 &
DAEMON_PID=$!

# Waits (polling, with a deadline) until the command succeeds; fails when the daemon died.
wait_for() {  # seconds, what, command...
  local seconds=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@"; do
    kill -0 "$DAEMON_PID" 2> /dev/null || fail "mailforumd exited while waiting for $what"
    [ "$(date +%s)" -lt "$deadline" ] || fail "no $what within $seconds s"
    sleep 0.05
  done
}
web_line() { grep -qE 'web: listening on http://[^ ]+:[0-9]+' "$RUN/daemon.log"; }
all_inbound() { [ "$(psql "$DB_DSN" -Atc "SELECT count(*) FROM inbound_messages")" = "$FIXTURES" ]; }
wait_for 60 "'web: listening on' line in the daemon log" web_line
BASE_URL=$(grep -oE 'web: listening on http://[^ ]+:[0-9]+' "$RUN/daemon.log" | head -n 1 | sed 's/^web: listening on //')
wait_for 120 "inbound row for each of the $FIXTURES fixtures" all_inbound

# What the ingest made of each fixture (by its Message-ID): outcome, thread, category, for the test to look up.
psql "$DB_DSN" -At > "$RUN/manifest.json" <<'SQL' || fail "cannot read the inbound rows"
SELECT json_build_object(
  'fixtures', (SELECT json_object_agg(regexp_replace(i.message_id, '^msgid-leak-(.*)@client\.example$', '\1'),
                                      json_build_object('outcome', i.outcome, 'reason', i.reason, 'post', p.id,
                                                        'thread', p.thread_id, 'category', c.slug))
               FROM inbound_messages i LEFT JOIN posts p ON p.id = i.post_id
                    LEFT JOIN threads t ON t.id = p.thread_id LEFT JOIN categories c ON c.id = t.category_id),
  -- Every Message-ID a post has (ours, outbound, and the inbound ones): none may appear on the web.
  'message_ids', (SELECT coalesce(json_agg(DISTINCT m), '[]') FROM
                    (SELECT message_id AS m FROM posts UNION SELECT message_id FROM message_ids
                     UNION SELECT message_id FROM outbox) ids))
SQL

# --- 4. the browser ---
SHOTS="$BUILD/tests/browser/shots"
rm -rf "$SHOTS" && mkdir -p "$SHOTS"
echo "browser test: mailforumd (pid $DAEMON_PID) serves $BASE_URL; $FIXTURES mails ingested in $(( $(date +%s) - START )) s"
MF_BASE_URL="$BASE_URL" MF_MANIFEST="$RUN/manifest.json" MF_SHOTS="$SHOTS" MF_NODE_MODULES="$NODE_DIR/node_modules" \
  MF_CHROMIUM="$CHROMIUM" MF_PROFILE="$RUN/chromium-profile" node "$HERE/browser_test.js"
echo "browser test: passed in $(( $(date +%s) - START )) s (screenshots in $SHOTS)"

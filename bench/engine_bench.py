#!/usr/bin/python3
"""The engine benchmark (issue 10, item 6): ingest, arrival latency, outbound and
scale of mailforumd, each beside a baseline measured in the same run, against
the servers of scripts/testenv (PostgreSQL made durable: fsync, synchronous_commit
and full_page_writes on). scripts/bench-engine builds, starts the servers, runs
this and stops them; see docs/benchmarks.md for what each figure means.

It drives the binaries from outside only (configuration file, command line, the
database, /proc): mailforumd, mailforumctl and bench's engine_bench_tool.

usage: engine_bench.py --build DIR --env-dir DIR --out FILE [--seed N] [--messages N]
       [--arrivals N] [--outbound N] [--mailboxes N]
Exit 0 when every bar is met, 1 when one is missed, 2 on an error.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

ROWS = []  # (part, figure, value, bar, verdict)
MISSED = []


def log(msg):
    print("engine_bench: " + msg, file=sys.stderr, flush=True)


def figure(part, name, value, bar=None, ok=None):
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    if ok is False:
        MISSED.append(part + ": " + name)
    ROWS.append({"part": part, "figure": name, "value": value, "bar": bar or "", "verdict": verdict})


def read_env(env_dir):
    env = {}
    with open(os.path.join(env_dir, "env")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[len("export "):].strip().split("=", 1)
                env[k] = v.strip("'")
    return env


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


# --- processes ---------------------------------------------------------------

def proc_cpu(pid, children=False):
    """utime+stime (and the reaped children's with children=True) of pid, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


def tree_cpu(root):
    """CPU seconds of a server: its master (with reaped children) and its live children."""
    return proc_cpu(root, children=True) + sum(proc_cpu(c) for c in children_of(root))


class CpuSampler:
    """A second count of a server's CPU time over a run: every `interval` seconds, the CPU time of each of its
    child processes (by pid and start time), from the first sample of each to its last. It misses the last
    moments of a process that ends between samples; the server's own reaped-children total misses a process
    whose exit it has not yet counted. Both are lower bounds: once() takes the larger."""

    def __init__(self, root, interval=0.1):
        self.root, self.interval = root, interval
        self.first, self.last = {}, {}
        self.stop = threading.Event()
        self.sample(initial=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self, initial=False):
        for c in children_of(self.root):
            try:
                with open("/proc/%d/stat" % c) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = (c, fields[19])
            ticks = int(fields[11]) + int(fields[12])
            self.first.setdefault(key, ticks if initial else 0)
            self.last[key] = ticks

    def run(self):
        while not self.stop.wait(self.interval):
            self.sample()

    def seconds(self):
        self.stop.set()
        self.thread.join()
        self.sample()
        return sum(self.last[k] - self.first[k] for k in self.last) / os.sysconf("SC_CLK_TCK")


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def client_backends_ended(root, before):
    """Whether every client session of server `root` that is not in `before` (pids) has ended and been reaped:
    a backend's CPU time reaches its server's reaped-children total only then (an exited backend that is
    not yet reaped, a zombie, shows none)."""
    for c in children_of(root):
        try:
            with open("/proc/%d/cmdline" % c, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if is_zombie(c) or (c not in before and b"127.0.0.1(" in cmdline):
            return False
    return True


def status_of(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    return st


def wait_for(what, predicate, timeout, interval=0.02):
    """Polls predicate until it returns a true value; that value, or an error after timeout."""
    end = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > end:
            raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Bench:
    def __init__(self, args):
        self.args = args
        self.env = read_env(args.env_dir)
        self.dir = self.env["MAILFORUM_TEST_DIR"]
        self.work = os.path.join(self.dir, "bench")
        os.makedirs(self.work, exist_ok=True)
        self.dsn = self.env["MAILFORUM_TEST_PG_DSN"]
        self.imap_port = int(self.env["MAILFORUM_TEST_IMAP_PORT"])
        self.smtp_port = int(self.env["MAILFORUM_TEST_SMTP_PORT"])
        os.environ["MF_BENCH_IMAP_PASSWORD"] = self.env["MAILFORUM_TEST_IMAP_PASSWORD"]
        with open(os.path.join(self.dir, "pg", "data", "postmaster.pid")) as f:
            self.pg_pid = int(f.readline())
        self.daemon = os.path.join(args.build, "daemon", "mailforumd")
        self.ctl = os.path.join(args.build, "cli", "mailforumctl")
        self.tool = os.path.join(args.build, "bench", "engine_bench_tool")
        self.commands = []

    def dovecot_pid(self):
        with open(os.path.join(self.dir, "dovecot", "run", "master.pid")) as f:
            return int(f.readline())

    def dovecot_polling(self):
        """How many Dovecot sessions so far found no inotify instance and poll for IDLE."""
        with open(os.path.join(self.dir, "dovecot", "dovecot.log"), errors="replace") as f:
            return sum(1 for line in f if "Inotify instance limit" in line)

    # --- database and configuration ---
    def admin(self):
        c = psycopg2.connect(self.dsn)
        c.autocommit = True
        return c

    def database(self, name):
        c = self.admin()
        c.cursor().execute("DROP DATABASE IF EXISTS %s" % name)
        c.cursor().execute("CREATE DATABASE %s" % name)
        c.close()
        return self.dsn.replace("dbname=postgres", "dbname=" + name)

    def config(self, name, db, users, app="mailforumd", acknowledge=False, smtp_port=None):
        """Writes WORK/NAME.yaml for database db and one mailbox per Dovecot user, its mail to the test sink
        or to smtp_port; returns its path."""
        dsn_file = os.path.join(self.work, name + ".dsn")
        with open(dsn_file, "w") as f:
            f.write(self.dsn.replace("dbname=postgres", "dbname=" + db) + " application_name=" + app + "\n")
        key_file = os.path.join(self.work, "reply.key")
        with open(key_file, "w") as f:
            f.write("bench-reply-key-0123456789abcdef0123456789abcdef\n")
        os.chmod(dsn_file, 0o600)
        os.chmod(key_file, 0o600)
        boxes = []
        for u in users:
            boxes.append(
                "  - name: %s\n"
                "    imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: MF_BENCH_IMAP_PASSWORD,"
                " folder: INBOX, idle: true, poll_interval: 60s}\n"
                "    after: {action: seen}\n"
                "    import_max_age: 3650d\n"
                "    acknowledge: %s\n"
                "    rules:\n"
                "      - {name: all, action: thread, category: general}\n" % (u, self.imap_port, u,
                                                                               "true" if acknowledge else "false"))
        path = os.path.join(self.work, name + ".yaml")
        with open(path, "w") as f:
            f.write(
                "instance: {name: Bench, base_url: 'http://127.0.0.1:1', domain: bench.example}\n"
                "database: {dsn_file: %s}\n"
                "secrets: {reply_key_file: %s}\n"
                "smtp: {host: 127.0.0.1, port: %d, tls: none, from: 'Bench Help <help@bench.example>',"
                " reply_to: 'help+{token}@bench.example'}\n"
                # The corpus has few senders: the per-sender limit of new threads would reject most of it.
                "limits: {new_threads_per_sender_per_hour: 100000}\n"
                "categories:\n  - {slug: general, name: General}\n"
                "mailboxes:\n%s" % (dsn_file, key_file, smtp_port or self.smtp_port, "".join(boxes)))
        return path

    def migrate(self, cfg):
        self.run([self.ctl, "migrate", "-c", cfg], capture_output=True)  # its lines are not figures

    def run(self, cmd, **kw):
        self.commands.append(" ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd)))
        return subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, **kw)

    def start_daemon(self, cfg, logname):
        self.commands.append("mailforumd -c " + cfg)
        out = open(os.path.join(self.work, logname), "w")
        return subprocess.Popen([self.daemon, "-c", cfg], stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def once(self, cfg, logname):
        """Runs mailforumd --once; its exit status, wall seconds, rusage and PostgreSQL's CPU seconds meanwhile."""
        # Sessions that ended before the run (mailforumctl migrate's) are reaped first: counted before it.
        wait_for("earlier PostgreSQL sessions to be reaped", lambda: client_backends_ended(self.pg_pid, set(
            c for c in children_of(self.pg_pid) if not is_zombie(c))), 60, 0.005)
        pg0 = tree_cpu(self.pg_pid)
        before = set(children_of(self.pg_pid))
        sampler = CpuSampler(self.pg_pid)
        self.commands.append("mailforumd -c %s --once" % cfg)
        with open(os.path.join(self.work, logname), "w") as out:
            t = time.monotonic()
            p = subprocess.Popen([self.daemon, "-c", cfg, "--once"], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=out)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - t
        # The daemon's sessions end as it exits: their CPU time is counted once PostgreSQL has reaped them.
        wait_for("the daemon's PostgreSQL sessions to end", lambda: client_backends_ended(self.pg_pid, before), 60,
                 0.005)
        return os.waitstatus_to_exitcode(status), wall, ru, max(tree_cpu(self.pg_pid) - pg0, sampler.seconds())

    def maildir_of(self, user):
        return os.path.join(self.env["MAILFORUM_TEST_IMAP_HOME"], user, "Maildir")

    def chown_dovecot(self, path):
        subprocess.run(["chown", "-R", "dovecot:", path], check=False)

    # --- ingest ---
    def ingest(self):
        part = "ingest"
        n = self.args.messages
        md = self.maildir_of("ingest")
        t = time.monotonic()
        made = json.loads(self.run([self.tool, "maildir", "--dir", md, "--count", str(n), "--seed",
                                    str(self.args.seed), "--machine-every", "20"],
                                   capture_output=True, text=True).stdout)
        self.chown_dovecot(os.path.dirname(md))
        fill = time.monotonic() - t
        figure(part, "mailbox (Maildir files written, corpus mix + 5% machine mail)",
               "%d msgs, %.0f MB, %d machine, filled in %.1f s" % (n, made["bytes"] / 1e6, made["machine"], fill))
        # The ceiling: a bare UID FETCH of every message (the first SELECT also builds Dovecot's index: a
        # throwaway fetch first, so neither side pays for it).
        fetch_cmd = [self.tool, "fetch", "--host", "127.0.0.1", "--port", str(self.imap_port), "--user", "ingest",
                     "--password-env", "MF_BENCH_IMAP_PASSWORD", "--batch", "100"]
        self.run(fetch_cmd, capture_output=True)
        bare = json.loads(self.run(fetch_cmd, capture_output=True, text=True).stdout)
        bare_rate = bare["messages"] / bare["seconds"]
        figure(part, "ceiling: bare UID FETCH, 100/command (libetpan)", "%.0f msg/s (%.2f s, %.1f MB/s)" % (
            bare_rate, bare["seconds"], bare["bytes"] / 1e6 / bare["seconds"]))

        db = self.database("bench_ingest")
        cfg = self.config("ingest", "bench_ingest", ["ingest"])
        self.migrate(cfg)
        status, wall, ru, pg_cpu = self.once(cfg, "ingest.log")
        c = psycopg2.connect(db)
        cur = c.cursor()
        cur.execute("SELECT outcome, count(*) FROM inbound_messages GROUP BY 1 ORDER BY 1")
        outcomes = cur.fetchall()
        done = sum(k for _, k in outcomes)
        c.close()
        if status != 0 or done != n:
            raise RuntimeError("ingest: mailforumd --once exited %d and recorded %d of %d messages (see %s)" % (
                status, done, n, os.path.join(self.work, "ingest.log")))
        rate = n / wall
        daemon_cpu = ru.ru_utime + ru.ru_stime
        figure(part, "mailforumd --once into PostgreSQL (durable)", "%.0f msg/s (%.1f s)" % (rate, wall),
               ">= 3,000 msg/s", rate >= 3000)
        figure(part, "ratio to the bare fetch", "%.3f" % (rate / bare_rate), ">= 0.3", rate / bare_rate >= 0.3)
        figure(part, "CPU per message: mailforumd", "%.0f us (%.1f s)" % (daemon_cpu / n * 1e6, daemon_cpu))
        figure(part, "CPU per message: PostgreSQL", "%.0f us (%.1f s)" % (pg_cpu / n * 1e6, pg_cpu))
        figure(part, "peak RSS: mailforumd / bare fetch", "%.0f MiB / %.0f MiB" % (
            ru.ru_maxrss / 1024, bare["max_rss_kib"] / 1024))
        figure(part, "outcomes", ", ".join("%s %d" % o for o in outcomes))

    # --- arrival latency ---
    def latency(self):
        part = "latency"
        n = self.args.arrivals
        user = "latency"
        db = self.database("bench_latency")
        cfg = self.config("latency", "bench_latency", [user])
        self.migrate(cfg)
        lc = psycopg2.connect(db)
        lc.autocommit = True
        lc.cursor().execute("LISTEN mailforum_changes")

        def count():
            cur = lc.cursor()
            cur.execute("SELECT count(*) FROM inbound_messages")
            return cur.fetchone()[0]

        import imaplib
        appender = imaplib.IMAP4("127.0.0.1", self.imap_port)
        appender.login(user, self.env["MAILFORUM_TEST_IMAP_PASSWORD"])
        appender.select("INBOX")
        idle = IdleWatcher("127.0.0.1", self.imap_port, user, self.env["MAILFORUM_TEST_IMAP_PASSWORD"])
        # The floor: one durable one-row INSERT + COMMIT from a bare client on the same PostgreSQL, once per
        # arrival in its random gap (so under the same load as the daemon's commits). No daemon commits faster.
        fc = psycopg2.connect(db)
        fc.cursor().execute("CREATE TABLE bench_commit_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL "
                            "DEFAULT now(), note text)")
        fc.commit()

        run = time.time_ns()

        def message(i):
            return ("From: Asker %d <asker%d@customer.example>\r\nTo: help@bench.example\r\n"
                    "Subject: Latency probe %d: printer on floor %d is offline\r\n"
                    "Date: Sat, 05 Dec 2026 03:00:00 +0000\r\nMessage-ID: <probe.%d.%d.%d@customer.example>\r\n"
                    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    "Hello,\r\n\r\nthe printer on floor %d shows an error since this morning. Can you help?\r\n\r\n"
                    "Thanks,\r\nAsker\r\n" % (i, i, i, i % 9, i, self.args.seed, run, i % 9)).encode()

        daemon = self.start_daemon(cfg, "latency.log")
        try:
            # Ready = the daemon has committed a first message (it is then idling in IDLE).
            last_uid = appended_uid(appender.append("INBOX", None, None, message(-1)))
            wait_for("the daemon's first commit", lambda: count() >= 1 or daemon.poll() is not None, 30)
            if daemon.poll() is not None:
                raise RuntimeError("latency: mailforumd exited %d" % daemon.returncode)
            base = count()
            rng = random.Random(self.args.seed)
            totals, idles, nets, floors = [], [], [], []
            for i in range(n):
                # The daemon marks the previous message \Seen after its commit; once it has, the IDLE client
                # enters IDLE afresh (as the daemon does after a pass), so neither carries a pending Dovecot
                # notification timer into the next message.
                wait_for("\\Seen on UID %d" % last_uid, lambda: seen(appender, last_uid), 10, 0.005)
                idle.restart()
                gap_end = time.monotonic() + rng.uniform(0.0, 0.3)  # a random gap while the daemon idles
                f0 = time.monotonic()
                fc.cursor().execute("INSERT INTO bench_commit_floor (note) VALUES (%s)", ("arrival %d" % i,))
                fc.commit()
                floors.append((time.monotonic() - f0) * 1000)
                time.sleep(max(0.0, gap_end - time.monotonic()))
                lc.poll()
                lc.notifies.clear()
                last_uid = appended_uid(appender.append("INBOX", None, None, message(i)))
                t0 = time.monotonic()  # the APPEND is done: the message is in the mailbox
                end = t0 + 10
                while count() < base + i + 1:
                    if select.select([lc], [], [], max(0.0, end - time.monotonic())) == ([], [], []):
                        raise RuntimeError("latency: message %d not committed within 10 s" % i)
                    lc.poll()
                    lc.notifies.clear()
                t1 = time.monotonic()
                heard = idle.wait_exists(5)
                totals.append((t1 - t0) * 1000)
                idles.append((heard - t0) * 1000)
                nets.append((t1 - heard) * 1000)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
            idle.close()
            appender.logout()
            lc.close()
            fc.close()
        figure(part, "APPEND -> committed, p50/p95/p99 (ms, %d msgs)" % n, "%.1f / %.1f / %.1f" % (
            pct(totals, 50), pct(totals, 95), pct(totals, 99)))
        figure(part, "baseline: APPEND -> an IDLE client's EXISTS, p50/p95/p99 (ms)", "%.1f / %.1f / %.1f" % (
            pct(idles, 50), pct(idles, 95), pct(idles, 99)))
        figure(part, "baseline: floor: a bare one-row INSERT+COMMIT, p50/p95/p99 (ms)", "%.1f / %.1f / %.1f" % (
            pct(floors, 50), pct(floors, 95), pct(floors, 99)))
        figure(part, "net of Dovecot's delay, p50 (ms)", "%.1f" % pct(nets, 50), "<= 8 ms", pct(nets, 50) <= 8)
        figure(part, "net of Dovecot's delay, p99 (ms)", "%.1f" % pct(nets, 99), "<= 20 ms", pct(nets, 99) <= 20)

    # --- outbound ---
    def start_sink(self, name):
        """Starts engine_bench_tool sink on a free port; (process, port, count file) once the port accepts."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        count_file = os.path.join(self.work, name + ".count.json")
        if os.path.exists(count_file):
            os.remove(count_file)
        cmd = [self.tool, "sink", "--port", str(port), "--count-file", count_file]
        self.commands.append(" ".join([os.path.basename(self.tool)] + cmd[1:]))
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)

        def accepts():
            if p.poll() is not None:
                raise RuntimeError("the SMTP sink exited %d" % p.returncode)
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        try:
            wait_for("the SMTP sink on port %d" % port, accepts, 30)
        except Exception:
            self.stop_sink((p, port, count_file), check=False)
            raise
        return p, port, count_file

    def stop_sink(self, sink, check=True):
        """Stops a sink of start_sink by its pid; its counts {"messages", "bytes", ...}."""
        p, port, count_file = sink
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait(30)
        if not check:
            return None
        if p.returncode != 0:
            raise RuntimeError("the SMTP sink on port %d exited %d" % (port, p.returncode))
        with open(count_file) as f:
            return json.load(f)

    def outbound(self):
        part = "outbound"
        n = self.args.outbound
        sinks = []
        try:
            self.outbound_on(part, n, sinks)
        finally:
            for sink in sinks:
                if sink[0].poll() is None:
                    self.stop_sink(sink, check=False)

    def outbound_on(self, part, n, sinks):
        db = self.database("bench_outbound")
        # The daemon's sink; the bare client gets one of its own, so that each count is one sender's.
        sinks.append(self.start_sink("outbound-daemon"))
        cfg = self.config("outbound", "bench_outbound", ["outbound"], smtp_port=sinks[0][1])
        self.migrate(cfg)
        c = psycopg2.connect(db)
        cur = c.cursor()
        body = ("Hello,\r\n\r\nthe VPN profile has been renewed; reconnect and it will ask for the new "
                "certificate once.\r\n\r\n" + "More detail for the record, line by line.\r\n" * 28 + "\r\n-- \r\nBench Help\r\n")
        payloads = []
        for i in range(n):
            payloads.append(("From: Bench Help <help@bench.example>\r\nTo: <user%d@customer.example>\r\n"
                             "Reply-To: help+t%d@bench.example\r\nSubject: Re: VPN certificate %d\r\n"
                             "Date: Sat, 05 Dec 2026 03:00:00 +0000\r\nMessage-ID: <out.%d@bench.example>\r\n"
                             "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s" % (
                                 i, i, i, i, body)).encode())
        total = sum(len(p) for p in payloads)  # each ends with CRLF: what a sink counts of it
        # Due rows made with SQL ('answer' rows without a thread: kind answer is never held by the loop breaker).
        cur.executemany("INSERT INTO outbox (kind, recipient, envelope_from, message_id, payload) "
                        "VALUES ('answer', %s, 'bounces@bench.example', %s, %s)",
                        [("user%d@customer.example" % i, "<out.%d@bench.example>" % i, psycopg2.Binary(p))
                         for i, p in enumerate(payloads)])
        c.commit()
        figure(part, "due rows", "%d 'answer' rows inserted with SQL, %d bytes each" % (n, len(payloads[0])))

        def arrived_whole(who, counts):
            if counts["messages"] != n or counts["bytes"] != total:
                raise RuntimeError("outbound: the sink got %d messages of %d bytes from %s, not %d of %d" % (
                    counts["messages"], counts["bytes"], who, n, total))

        # The baseline: the bare C++ client, one connection, the same messages, pipelined (RFC 2920: MAIL,
        # RCPT and DATA in one write, then the data), as the daemon sends them.
        messages_file = os.path.join(self.work, "outbound.messages")
        with open(messages_file, "wb") as f:
            for i, p in enumerate(payloads):
                f.write(b"user%d@customer.example %d\n" % (i, len(p)) + p)
        sinks.append(self.start_sink("outbound-baseline"))
        bare = json.loads(self.run([self.tool, "send", "--port", str(sinks[1][1]), "--from",
                                    "bounces@bench.example", "--messages-file", messages_file, "--count", str(n)],
                                   capture_output=True, text=True).stdout)
        baseline_sink = self.stop_sink(sinks[1])
        arrived_whole("the bare client", baseline_sink)
        bare_rate = n / bare["seconds"]
        figure(part, "baseline: bare C++ client -> C++ sink, one connection", "%.0f mails/s (%.1f s, %s)" % (
            bare_rate, bare["seconds"], "pipelined" if bare["pipelining"] else "not pipelined"))
        figure(part, "CPU per mail: bare client / sink", "%.0f us / %.0f us" % (
            bare["cpu_seconds"] / n * 1e6, baseline_sink["cpu_seconds"] / n * 1e6))

        status, wall, ru, pg_cpu = self.once(cfg, "outbound.log")
        cur.execute("SELECT status, count(*) FROM outbox GROUP BY 1 ORDER BY 1")
        statuses = dict(cur.fetchall())
        c.close()
        if status != 0 or statuses.get("sent", 0) != n:
            raise RuntimeError("outbound: mailforumd --once exited %d, outbox %s (see %s)" % (
                status, statuses, os.path.join(self.work, "outbound.log")))
        daemon_sink = self.stop_sink(sinks[0])
        arrived_whole("mailforumd", daemon_sink)
        rate = n / wall
        figure(part, "mailforumd --once outbox worker -> C++ sink (durable)",
               "%.0f mails/s (%.1f s)" % (rate, wall), ">= 2,000 mails/s", rate >= 2000)
        figure(part, "ratio to the bare client", "%.2f" % (rate / bare_rate), ">= 0.8", rate / bare_rate >= 0.8)
        figure(part, "CPU per mail: mailforumd / PostgreSQL / sink", "%.0f us / %.0f us / %.0f us" % (
            (ru.ru_utime + ru.ru_stime) / n * 1e6, pg_cpu / n * 1e6, daemon_sink["cpu_seconds"] / n * 1e6))

    # --- scale ---
    def scale(self, m=None, part="scale"):
        # Dovecot's IDLE takes one inotify instance per imap process and the kernel allows 128 per uid
        # (fs.inotify.max_user_instances, shared by every Dovecot of the machine); the test Dovecot runs
        # every user as one uid, so with one process per connection the 129th and later IDLE sessions would
        # poll every 30 s. For this part only, one imap process serves up to 50 connections. (Not for the
        # others: an APPEND served by the process of the daemon's IDLE session does not wake that session.)
        self.dovecot_clients_per_process(50)
        try:
            self.scale_on(m or self.args.mailboxes, part)
        finally:
            self.dovecot_clients_per_process(1)

    def dovecot_clients_per_process(self, n):
        conf = os.path.join(self.dir, "dovecot", "bench-scale.conf")
        with open(conf, "w") as f:
            f.write("service imap {\n  client_limit = %d\n  service_count = %d\n}\n" % (n, 0 if n > 1 else 1))
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "testenv",
                        "restart-dovecot"), self.dir], check=True, stdout=subprocess.DEVNULL)

    def scale_on(self, m, part):
        users = ["s%03d" % i for i in range(m)]
        db = self.database("bench_scale")
        cfg_a = self.config("scale-a", "bench_scale", users, app="mf-bench-a")
        cfg_b = self.config("scale-b", "bench_scale", users, app="mf-bench-b")
        self.migrate(cfg_a)
        c = psycopg2.connect(db)
        c.autocommit = True
        cur = c.cursor()

        def q(sql, *a):
            cur.execute(sql, a)
            return cur.fetchall()

        def ready():
            return q("SELECT count(*) FROM mailbox_state WHERE last_success_at IS NOT NULL")[0][0] >= m

        a = self.start_daemon(cfg_a, "scale-a.log")
        b = None
        t = time.monotonic()
        try:
            wait_for("%d mailboxes' first pass" % m, lambda: ready() or a.poll() is not None, 120, 0.1)
            if a.poll() is not None:
                raise RuntimeError("mailforumd exited %d: %s" % (a.returncode, last_line(self.work, "scale-a.log")))
            startup = time.monotonic() - t
            # Idle: sample for a while after the last first pass (IDLE is set up right after it).
            time.sleep(2)
            st = status_of(a.pid)
            conns = q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mf-bench-a'")[0][0]
            rss = int(st["VmHWM"].split()[0]) / 1024
            figure(part, "one daemon, %d mailboxes: all first passes done" % m, "%.1f s" % startup)
            figure(part, "peak RSS (VmHWM)", "%.0f MiB" % rss, "<= 150 MiB", rss <= 150)
            figure(part, "threads / open file descriptors", "%s / %d" % (
                st["Threads"], len(os.listdir("/proc/%d/fd" % a.pid))))
            figure(part, "PostgreSQL connections", str(conns), "<= 10", conns <= 10)

            # One new message in each mailbox: Maildir files renamed into new/ (Dovecot sees them at once).
            msgs = []
            for i, u in enumerate(users):
                md = self.maildir_of(u)
                msgs.append((md, "scale.%d.bench" % i, (
                    "From: Scale %d <scale%d@customer.example>\r\nTo: help@bench.example\r\n"
                    "Subject: Scale probe %d\r\nMessage-ID: <scale.%d.%d@customer.example>\r\n"
                    "Date: Sat, 05 Dec 2026 03:00:00 +0000\r\n\r\nOne question from mailbox %s.\r\n" % (
                        i, i, i, i, self.args.seed, u)).encode()))
            for md, name, raw in msgs:
                with open(os.path.join(md, "tmp", name), "wb") as f:
                    f.write(raw)
                os.chown(os.path.join(md, "tmp", name), *dovecot_ids())
            cpu0 = (proc_cpu(a.pid), tree_cpu(self.pg_pid), tree_cpu(self.dovecot_pid()))
            t0_wall = time.time()
            t0 = time.monotonic()
            for md, name, _ in msgs:
                os.rename(os.path.join(md, "tmp", name), os.path.join(md, "new", name))
            wait_for("one message in each of %d mailboxes" % m,
                     lambda: q("SELECT count(*) FROM inbound_messages")[0][0] >= m or a.poll() is not None, 60)
            all_in = time.monotonic() - t0
            cpu = [after - before for before, after in zip(cpu0, (
                proc_cpu(a.pid), tree_cpu(self.pg_pid), tree_cpu(self.dovecot_pid())))]
            per = [float(r[0]) - t0_wall for r in q("SELECT extract(epoch FROM received_at) FROM inbound_messages")]
            figure(part, "a new message in each: time until all %d committed" % m, "%.2f s" % all_in, "<= 2 s",
                   all_in <= 2)
            figure(part, "  per mailbox (decision start), p50 / max", "%.2f s / %.2f s" % (
                statistics.median(per), max(per)))
            figure(part, "  CPU meanwhile: mailforumd / PostgreSQL / Dovecot", "%.2f s / %.2f s / %.2f s" % tuple(cpu))
            # Past the kernel's inotify instances per uid Dovecot polls instead (scripts/bench-engine).
            figure(part, "  Dovecot IDLE sessions polling (inotify limit)", str(self.dovecot_polling()))
            a.send_signal(signal.SIGTERM)
            a.wait(60)

            # Two daemons sharing the mailboxes; SIGKILL the one that owns more.
            def owners():
                return dict(q("SELECT s.application_name, count(*) FROM pg_locks l JOIN pg_stat_activity s "
                              "ON s.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                              "AND s.datname = 'bench_scale' GROUP BY 1"))

            # a takes about half (then is paused with SIGSTOP while b takes the rest, and continued).
            a = self.start_daemon(cfg_a, "scale-a2.log")
            wait_for("a to own half", lambda: owners().get("mf-bench-a", 0) >= m // 2, 120, 0.01)
            a.send_signal(signal.SIGSTOP)
            b = self.start_daemon(cfg_b, "scale-b.log")
            try:
                wait_for("%d mailboxes owned" % m, lambda: sum(owners().values()) >= m, 120, 0.1)
            finally:
                a.send_signal(signal.SIGCONT)
            time.sleep(1)
            own = owners()
            figure(part, "two daemons: mailboxes owned by a / b",
                   "%d / %d" % (own.get("mf-bench-a", 0), own.get("mf-bench-b", 0)))
            victim, survivor, sname = (a, b, "mf-bench-b") if own.get("mf-bench-a", 0) >= own.get(
                "mf-bench-b", 0) else (b, a, "mf-bench-a")
            t0 = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            wait_for("the survivor to own all %d" % m, lambda: owners().get(sname, 0) >= m, 120, 0.05)
            takeover = time.monotonic() - t0
            figure(part, "SIGKILL one: the other owns all %d after" % m, "%.2f s" % takeover, "<= 10 s",
                   takeover <= 10)
            survivor.send_signal(signal.SIGTERM)
            survivor.wait(60)
        finally:
            for p in (a, b):
                if p is not None and p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(60)
            c.close()


def last_line(work, logname):
    """The last line of a daemon's log in work (why it died)."""
    with open(os.path.join(work, logname), errors="replace") as f:
        lines = f.read().strip().splitlines()
    return lines[-1] if lines else "(empty log)"


def dovecot_ids():
    import pwd
    pw = pwd.getpwnam("dovecot")
    return pw.pw_uid, pw.pw_gid


def appended_uid(response):
    """The UID of an APPEND's [APPENDUID validity uid] answer."""
    return int(response[1][0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))


def seen(imap, uid):
    typ, data = imap.uid("FETCH", str(uid), "(FLAGS)")
    return typ == "OK" and any(b"\\Seen" in (d if isinstance(d, bytes) else d[0]) for d in data if d)


class IdleWatcher:
    """An IMAP client in IDLE on one mailbox; records when the server reports a new message."""

    def __init__(self, host, port, user, password):
        self.sock = socket.create_connection((host, port))
        self.f = self.sock.makefile("rb")
        self.f.readline()
        self.cmd(b"a LOGIN %s \"%s\"" % (user.encode(), password.encode()), b"a ")
        self.cmd(b"b SELECT INBOX", b"b ")
        self.sock.sendall(b"c IDLE\r\n")
        self.f.readline()  # + idling
        self.cond = threading.Condition()
        self.exists_at = None
        self.done = False
        self.idling = True
        self.thread = threading.Thread(target=self.reader, daemon=True)
        self.thread.start()

    def cmd(self, line, tag):
        self.sock.sendall(line + b"\r\n")
        while not self.f.readline().startswith(tag):
            pass

    def reader(self):
        while True:
            line = self.f.readline()
            if not line:
                return
            with self.cond:
                if line.endswith(b"EXISTS\r\n"):
                    self.exists_at = time.monotonic()
                elif line.startswith(b"c "):
                    self.done = True
                elif line.startswith(b"+"):
                    self.idling = True
                self.cond.notify_all()

    def restart(self):
        """Leaves IDLE and enters it again (what the daemon does after each pass); forgets the last EXISTS."""
        with self.cond:
            self.exists_at = None
            self.idling = False
            self.sock.sendall(b"DONE\r\n")
            self.cond.wait_for(lambda: self.done, 10)
            self.done = False
            self.sock.sendall(b"c IDLE\r\n")
            self.cond.wait_for(lambda: self.idling, 10)
            self.exists_at = None

    def wait_exists(self, timeout):
        with self.cond:
            if not self.cond.wait_for(lambda: self.exists_at is not None, timeout):
                raise RuntimeError("latency: the IDLE client heard of no new message within %d s" % timeout)
            return self.exists_at

    def close(self):
        try:
            self.sock.sendall(b"DONE\r\nd LOGOUT\r\n")
        finally:
            self.sock.close()


def machine():
    info = {"nproc": os.cpu_count()}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        info["memory"] = f.readline().split(":", 1)[1].strip()
    info["load_before"] = open("/proc/loadavg").read().split()[:3]
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--env-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--arrivals", type=int, default=300)
    ap.add_argument("--outbound", type=int, default=10000)
    ap.add_argument("--mailboxes", type=int, default=200)
    ap.add_argument("--parts", default="ingest,latency,outbound,scale")
    args = ap.parse_args()
    b = Bench(args)
    info = machine()
    started = time.monotonic()
    errors = []
    for part in args.parts.split(","):
        log("running " + part)
        t = time.monotonic()
        try:
            getattr(b, part)()
        except Exception as e:  # one part failing still reports the others
            errors.append("%s: %s" % (part, e))
            figure(part, "ERROR", str(e), "", False)
        log("%s took %.0f s" % (part, time.monotonic() - t))
    if any(e.startswith("scale:") for e in errors) and args.mailboxes > 150:
        # Today's daemon aborts past ~170 mailboxes (a descriptor over FD_SETSIZE in libetpan's select()):
        # measure what it does with fewer, beside the failure.
        log("running scale with 150 mailboxes")
        try:
            b.scale(150, "scale@150")
        except Exception as e:
            errors.append("scale@150: %s" % e)
            figure("scale@150", "ERROR", str(e), "", False)
    info["load_after"] = open("/proc/loadavg").read().split()[:3]
    result = {"machine": info, "seconds": round(time.monotonic() - started), "commands": b.commands,
              "figures": ROWS, "missed": MISSED, "errors": errors}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    w = max(len(r["part"] + r["figure"]) for r in ROWS) + 3
    v = max(len(r["value"]) for r in ROWS) + 2
    for r in ROWS:
        print("%-*s%-*s%-18s%s" % (w, r["part"] + ": " + r["figure"], v, r["value"], r["bar"], r["verdict"]))
    print("bars missed: %d%s" % (len(MISSED), "" if not MISSED else " (" + "; ".join(MISSED) + ")"))
    return 2 if errors else (1 if MISSED else 0)


if __name__ == "__main__":
    sys.exit(main())

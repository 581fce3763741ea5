#!/usr/bin/python3
"""The soak (issue 13, item 5): mailforumd runs for --minutes with steady mail
in and out and faults at a low rate, and its resources are sampled every
--sample-seconds; at the end it says whether they stayed flat.

Mail in: the corpus generator's mix (questions, replies, machine mail) with
--reply-share of it rewritten into replies to earlier messages of the run, so
that answers and notifications fan out (bench/chaos.py), --rate messages a second, delivered into the
two mailboxes' Maildirs as an MTA does. Mail out: to the SMTP sink. Faults,
through scripts/testenv/fault_proxy.py in front of Dovecot, PostgreSQL and the
SMTP server: kill -9 of the daemon (--kills of them, all before the measured
window, so the window is one process lifetime), and over the whole run, one
every --fault-every seconds in turn: every IMAP connection reset, every
PostgreSQL connection reset, SMTP connections reset mid-DATA for a while, IMAP
connections reset mid-FETCH for a while, and the SMTP server answering 451 to
DATA for a while.

Each sample: the daemon's RSS (VmRSS) and where it lies (/proc/PID/smaps:
the main heap, the other malloc arenas, other anonymous memory, files),
open file descriptors (of them sockets), threads (/proc/PID) and its
PostgreSQL connections
(pg_stat_activity by application_name), with the mail recorded and sent so
far. "Flat" over the last --window-minutes (the verdict; FLAT_RULES below says
it in figures):
  - one process lifetime (no restart in the window);
  - RSS: least-squares slope < 1 MiB per 10 minutes (not judged with
    --sanitized: ASan's quarantine holds freed memory by design; LeakSanitizer
    at exit judges leaks there);
  - file descriptors: least-squares slope < 1 per 10 minutes, and never more
    than the budget (FD_BUDGET: standard input, output and error, the
    database connections, per mailbox its IMAP socket and libetpan's two
    pipes, the SMTP connection, one more for a reconnect in flight);
  - threads: max - min <= 2;
  - PostgreSQL connections: never more than the documented budget
    (database.mailbox_pool + 1 for the mailbox locks + 1 for the outbox).
Slopes are judged only when the window is at least 20 minutes long (shorter,
they are noise and are only printed).

Then, as the chaos run: every inbound message one outcome and at most one post,
nothing unseen, no quarantine, no outbound mail pending, duplicates counted.
And: the daemon never died by itself, stops with status 0 on SIGTERM, and its
log holds no sanitizer report.

SIGTERM and SIGINT stop the soak as they stop the chaos run (chaos.run_rig):
the daemon and the proxies stopped, no results written, exit 128 + the signal.

scripts/soak starts the servers (scripts/testenv) and runs this; see
docs/benchmarks.md.

usage: soak.py --build DIR --env-dir DIR --out FILE [--daemon PATH] [--minutes M] [--window-minutes M]
       [--sample-seconds S] [--rate R] [--reply-share F] [--kills N] [--fault-every S] [--sanitized] [--seed N]
Exit 0 when every check holds, 1 when one fails, 2 on an error.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos import MAILBOXES, Chaos, Proxy, run_rig  # noqa: E402
from engine_bench import status_of  # noqa: E402

MAILBOX_POOL = 4  # database.mailbox_pool's default, which the soak's configuration keeps
CONNECTION_BUDGET = MAILBOX_POOL + 1 + 1
# Standard input, output and error; the database connections; per mailbox its IMAP socket and
# libetpan's two pipes; the SMTP connection; one more for a reconnect in flight.
FD_BUDGET = 3 + CONNECTION_BUDGET + 5 * len(MAILBOXES) + 1 + 1
# /proc/PID/smaps: "start-end perms offset dev inode [path]"; glibc's arenas other than the main one are
# mappings aligned to their maximum size (HEAP_MAX_SIZE, 64 MiB on 64-bit).
SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-[0-9a-f]+ (\S+) \S+ \S+ \S+(.*)$")
ARENA_ALIGNMENT = 64 << 20
RESIDENT_PARTS = ("heap", "arenas", "anon", "files")
FLAT_RULES = (
    "one process lifetime in the window; RSS least-squares slope < 1 MiB per 10 min (not judged under "
    "ASan); fds least-squares slope < 1 per 10 min and never more than %d (3 standard + %d database + 5 "
    "per IMAP session (socket, two pipes) x %d + SMTP + 1 reconnecting); threads max - min <= 2; PostgreSQL "
    "connections never more than %d (mailbox_pool %d + lock + outbox); slopes judged only over a window of "
    "20 min or more" % (FD_BUDGET, CONNECTION_BUDGET, len(MAILBOXES), CONNECTION_BUDGET, MAILBOX_POOL))
SANITIZER_REPORT = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:)")


def log(msg):
    print("soak: %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def slope_per_10min(points):
    """Least-squares slope of (seconds, value) points, per 10 minutes; 0 for fewer than two points."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    sxx = sum((t - mt) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    return 600.0 * sum((t - mt) * (v - mv) for t, v in points) / sxx


class Soak(Chaos):
    def __init__(self, args):
        args.messages = int(args.minutes * 60 * args.rate) + 1
        args.clean_timeout = max(300.0, args.fault_every * 2)
        super().__init__(args)
        if args.daemon:
            self.daemon_bin = args.daemon
        self.samples = []  # dicts, in order
        self.deaths = 0

    def check_alive(self):
        dead = sum(1 for p in self.daemons.values() if p.poll() is not None)
        if dead:
            self.deaths += dead
            log("the daemon died by itself")
        super().check_alive()

    # --- faults ---
    def plan(self):
        """(second, what) of every fault, in order."""
        run = self.args.minutes * 60
        before_window = run - self.args.window_minutes * 60
        ev = [((i + 0.5) * before_window / self.args.kills, "kill") for i in range(self.args.kills)]
        cycle = ("imap: reset", "postgres: reset", "smtp: reset mid-DATA", "imap: reset mid-FETCH",
                 "smtp: 451 to DATA")
        # A fault that lasts ends after at most 2 minutes, and before the next one starts.
        lasting = min(120.0, 0.8 * self.args.fault_every)
        t, i = self.args.fault_every / 2, 0
        while t < run - lasting:
            what = cycle[i % len(cycle)]
            ev.append((t, what))
            if what.startswith("smtp"):
                ev.append((t + lasting, "smtp: heal"))
            elif what == "imap: reset mid-FETCH":
                ev.append((t + lasting, "imap: heal"))
            t += self.args.fault_every
            i += 1
        return sorted(ev)

    def soak_fault(self, what):
        if what == "imap: reset":
            self.imap.send("reset")
            self.events[what] += 1
        elif what == "postgres: reset":
            self.pg.send("reset")
            self.events[what] += 1
        elif what == "smtp: heal":
            self.smtp.send("heal")
            data_reply = os.path.join(self.env["MAILFORUM_TEST_SMTP_SPOOL"], "control", "data_reply")
            if os.path.exists(data_reply):
                self.fault("smtp: answers again")
        else:  # the chaos run's: kill, the resets mid-stream, 451 to DATA, imap: heal
            self.fault(what)

    # --- samples ---
    @staticmethod
    def resident_parts(pid):
        """The resident KiB of the process by kind of mapping (/proc/PID/smaps): heap (the main malloc
        arena, [heap]), arenas (glibc's other arenas: anonymous read-write mappings aligned to their 64 MiB),
        anon (the rest of the anonymous memory: blocks mapped on their own, thread stacks, libraries' data),
        files (mapped files: the program and its libraries)."""
        parts = {"heap": 0, "arenas": 0, "anon": 0, "files": 0}
        kind = None
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                head = SMAPS_HEADER.match(line)
                if head:
                    start, perms, path = int(head.group(1), 16), head.group(2), head.group(3).strip()
                    if path == "[heap]":
                        kind = "heap"
                    elif path and not path.startswith("["):
                        kind = "files"
                    elif not path and perms.startswith("rw") and start % ARENA_ALIGNMENT == 0:
                        kind = "arenas"
                    else:
                        kind = "anon"
                elif line.startswith("Rss:") and kind:
                    parts[kind] += int(line.split()[1])
        return parts

    def sample(self, t):
        p = self.daemons.get("a")
        if p is None or p.poll() is not None:
            return
        try:
            st = status_of(p.pid)
            fds = [os.readlink("/proc/%d/fd/%s" % (p.pid, fd)) for fd in os.listdir("/proc/%d/fd" % p.pid)]
            parts = self.resident_parts(p.pid)
        except OSError:
            return  # it died just now: check_alive says so
        (conns,), = self.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mailforumd'")
        (recorded,), = self.query("SELECT count(*) FROM inbound_messages")
        (sent,), = self.query("SELECT count(*) FROM outbox WHERE status = 'sent'")
        s = {"t": t, "pid": p.pid, "rss_kib": int(st["VmRSS"].split()[0]), "parts_kib": parts, "fds": len(fds),
             "sockets": sum(1 for f in fds if f.startswith("socket:")), "threads": int(st["Threads"]),
             "pg": conns, "in": self.delivered, "recorded": recorded, "sent": sent}
        self.samples.append(s)
        log(self.sample_line(s))

    @staticmethod
    def sample_line(s):
        parts = s.get("parts_kib", {})
        return "%6.1f min  pid %7d  rss %6.1f MiB (heap %5.1f arenas %5.1f anon %5.1f files %5.1f)  fds %3d " \
               "(sockets %2d)  threads %3d  pg %2d  in %6d  recorded %6d  sent %6d" % (
                   s["t"] / 60, s["pid"], s["rss_kib"] / 1024, *(parts.get(k, 0) / 1024 for k in RESIDENT_PARTS),
                   s["fds"], s["sockets"], s["threads"], s["pg"], s["in"], s["recorded"], s["sent"])

    # --- the run ---
    def run(self):
        self.imap = Proxy(self.work, "imap-proxy", int(self.env["MAILFORUM_TEST_IMAP_PORT"]))
        self.smtp = Proxy(self.work, "smtp-proxy", int(self.env["MAILFORUM_TEST_SMTP_PORT"]))
        self.pg = Proxy(self.work, "pg-proxy", int(self.env["MAILFORUM_TEST_PG_PORT"]))
        try:
            return self.run_with_proxies()
        finally:
            for name in list(self.daemons):
                self.kill_daemon(name, signal.SIGKILL)
            for proxy in (self.imap, self.smtp, self.pg):
                proxy.stop()

    def run_with_proxies(self):
        self.database()
        self.config()
        files = self.generate()
        self.delivered = 0
        run = self.args.minutes * 60
        log("%d messages at %.2f/s for %.1f min; verdict over the last %.1f min" % (
            len(files), self.args.rate, self.args.minutes, self.args.window_minutes))
        self.start_daemon("a")
        start = time.monotonic()
        plan = self.plan()
        next_sample = 0.0
        while True:
            now = time.monotonic() - start
            due = min(len(files), int(now * self.args.rate) + 1)
            if due > self.delivered:
                self.deliver(files[self.delivered:due])
            while plan and plan[0][0] <= now:
                what = plan.pop(0)[1]
                log("fault: " + what)
                self.soak_fault(what)
            self.check_alive()
            if now >= next_sample:
                self.sample(now)
                next_sample += self.args.sample_seconds
                if now >= run:
                    break
            time.sleep(0.05)
        self.deliver(files[self.delivered:])
        self.imap.send("heal")
        self.smtp.send("heal")
        self.pg.send("heal")
        self.soak_fault("smtp: heal")
        last_fault = time.monotonic()
        log("run over; waiting for a clean state")
        clean = self.wait_clean(len(files))
        self.summarise(len(files), clean - last_fault if clean else None)
        self.judge(run)
        self.stop_daemon()
        return 0 if all(ok for _, _, ok in self.rows if ok is not None) else 1

    def judge(self, run):
        start = run - self.args.window_minutes * 60
        window = [s for s in self.samples if s["t"] >= start - 1]
        self.check("samples in the window (the last %.1f min)" % self.args.window_minutes, len(window),
                   len(window) >= 2)
        if len(window) < 2:
            return
        pids = {s["pid"] for s in window}
        self.check("daemon processes in the window", len(pids), len(pids) == 1)
        judge_slopes = self.args.window_minutes >= 20
        rss = slope_per_10min([(s["t"], s["rss_kib"] / 1024) for s in window])
        rss_range = (max(s["rss_kib"] for s in window) - min(s["rss_kib"] for s in window)) / 1024
        self.check("RSS slope (least squares; range %.1f MiB)" % rss_range, "%+.2f MiB per 10 min" % rss,
                   rss < 1.0 if judge_slopes and not self.args.sanitized else None)
        for part in RESIDENT_PARTS:  # where RSS lies: printed, not judged
            values = [s["parts_kib"][part] / 1024 for s in window if "parts_kib" in s]
            if len(values) >= 2:
                slope = slope_per_10min([(s["t"], s["parts_kib"][part] / 1024) for s in window if "parts_kib" in s])
                self.check("  of it %s (range %.1f..%.1f MiB)" % (part, min(values), max(values)),
                           "%+.2f MiB per 10 min" % slope, None)
        fd_slope = slope_per_10min([(s["t"], s["fds"]) for s in window])
        self.check("fds slope (least squares)", "%+.2f per 10 min" % fd_slope, fd_slope < 1.0 if judge_slopes else None)
        hi = max(s["fds"] for s in window)
        self.check("fds, most (budget %d)" % FD_BUDGET, hi, hi <= FD_BUDGET)
        lo, hi = min(s["threads"] for s in window), max(s["threads"] for s in window)
        self.check("threads max - min (%d..%d; bound 2)" % (lo, hi), hi - lo, hi - lo <= 2)
        hi = max(s["pg"] for s in window)
        self.check("PostgreSQL connections, most (budget %d)" % CONNECTION_BUDGET, hi, hi <= CONNECTION_BUDGET)

    def stop_daemon(self):
        p = self.daemons.pop("a", None)
        code = None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                code = p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.check("daemon exit status on SIGTERM", code, code == 0)
        self.check("daemon deaths not caused by the soak", self.deaths, self.deaths == 0)
        reports = 0
        with open(os.path.join(self.work, "a.log"), errors="replace") as f:
            for line in f:
                if SANITIZER_REPORT.search(line):
                    reports += 1
                    if reports <= 20:
                        log("sanitizer: " + line.rstrip())
        self.check("sanitizer report lines in the daemon's log", reports, reports == 0)

    def write(self, out, started, wall):
        width = max(len(r[0]) for r in self.rows)
        lines = ["%-*s  %-32s %s" % (width, name, value, "" if ok is None else ("ok" if ok else "FAILED"))
                 for name, value, ok in self.rows]
        table = "\n".join(line.rstrip() for line in lines)
        print(table)
        verdict = "FLAT and every check holds" if all(ok for _, _, ok in self.rows if ok is not None) else "FAILED"
        samples = "\n".join(self.sample_line(s) for s in self.samples)
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(out, "w") as f:
            f.write("# Soak, %s\n\nWritten by scripts/soak (never edited by hand). See docs/benchmarks.md.\n\n"
                    "- git revision: %s\n- daemon: %s\n- options: %s\n- run time: %.0f s\n"
                    "- load average at the end: %s\n- flat means: %s\n\n"
                    "## Verdict: %s\n\n```\n%s\n```\n\n## Samples\n\n```\n%s\n```\n" % (
                        started, rev or "unknown", self.daemon_bin, " ".join(sys.argv[1:]), wall,
                        " ".join("%.2f" % x for x in os.getloadavg()), FLAT_RULES, verdict, table, samples))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="where mailforumctl and engine_bench_tool are")
    ap.add_argument("--daemon", help="the mailforumd to soak (default: BUILD/daemon/mailforumd)")
    ap.add_argument("--env-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--window-minutes", type=float, default=40)
    ap.add_argument("--sample-seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=1.0, help="inbound messages a second")
    ap.add_argument("--reply-share", type=float, default=0.25,
                    help="share of the mail rewritten into replies to earlier messages (answers fan out)")
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--fault-every", type=float, default=150)
    ap.add_argument("--sanitized", action="store_true", help="the daemon is an ASan build: RSS is not judged")
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    if args.window_minutes >= args.minutes:
        ap.error("--window-minutes must be shorter than --minutes")
    return run_rig(Soak, args, log)


if __name__ == "__main__":
    sys.exit(main())

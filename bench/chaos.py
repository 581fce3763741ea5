#!/usr/bin/python3
"""The chaos run (issue 13, item 4): mailforumd ingests a generated mailbox and
sends the answers and notifications it makes while every fault happens at once:
kill -9 of the daemon at random moments, PostgreSQL and Dovecot restarts, a
second daemon sharing the mailboxes for part of the run, the SMTP server
answering 4xx for a while and connections reset mid-DATA, an IMAP connection
black-holed during IDLE and connections reset mid-FETCH (through
scripts/testenv/fault_proxy.py). Mail keeps arriving during the faults.

Once the faults stop it waits for a clean state and checks: every inbound
message has exactly one outcome and at most one post; nothing is left unseen in
the mailboxes; no quarantine entry; no outbound mail still pending; and it
counts outbound mail delivered more than once (each with its row's one
Message-ID). It prints a summary table and writes it to --out.

scripts/chaos starts the servers (scripts/testenv) and runs this; see
docs/benchmarks.md.

usage: chaos.py --build DIR --env-dir DIR --out FILE [--messages N] [--kills N]
       [--pg-restarts N] [--dovecot-restarts N] [--fault-seconds S] [--seed N]
Exit 0 when every check holds, 1 when one fails, 2 on an error.
"""
import argparse
import collections
import email.parser
import email.policy
import imaplib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_bench import read_env, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = "/usr/lib/postgresql/15/bin"
MAILBOXES = ("chaos1", "chaos2")


def log(msg):
    print("chaos: %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def as_user(user, cmd):
    return (["runuser", "-u", user, "--"] + cmd) if os.geteuid() == 0 else cmd


class Proxy:
    """A fault_proxy.py in front of a target port, driven by its control port."""

    def __init__(self, work, name, target_port):
        self.ports_file = os.path.join(work, name + ".ports")
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts", "testenv", "fault_proxy.py"), "--target",
             "127.0.0.1:%d" % target_port, "--ports-file", self.ports_file],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_for("the %s proxy's ports" % name, lambda: os.path.exists(self.ports_file), 30)
        with open(self.ports_file) as f:
            ports = dict(line.split() for line in f if line.strip())
        self.port, self.control = int(ports["listen"]), int(ports["control"])

    def send(self, *command):
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "testenv", "fault_proxy.py"), "--send",
                              str(self.control), " ".join(command)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("fault proxy: %s: %s" % (" ".join(command), out.stdout + out.stderr))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Chaos:
    def __init__(self, args):
        self.args = args
        self.env = read_env(args.env_dir)
        self.dir = self.env["MAILFORUM_TEST_DIR"]
        self.work = os.path.join(self.dir, "chaos")
        os.makedirs(self.work, exist_ok=True)
        self.rng = random.Random(args.seed)
        self.daemon_bin = os.path.join(args.build, "daemon", "mailforumd")
        self.ctl = os.path.join(args.build, "cli", "mailforumctl")
        self.tool = os.path.join(args.build, "bench", "engine_bench_tool")
        self.password = self.env["MAILFORUM_TEST_IMAP_PASSWORD"]
        self.daemons = {}  # name -> Popen
        self.events = collections.Counter()
        self.rows = []  # (check, value, verdict)

    # --- set-up ---
    def database(self):
        admin = psycopg2.connect(self.env["MAILFORUM_TEST_PG_DSN"])
        admin.autocommit = True
        admin.cursor().execute("DROP DATABASE IF EXISTS chaos")
        admin.cursor().execute("CREATE DATABASE chaos")
        admin.close()
        self.dsn = self.env["MAILFORUM_TEST_PG_DSN"].replace("dbname=postgres", "dbname=chaos")

    def config(self):
        dsn_file = os.path.join(self.work, "dsn")
        key_file = os.path.join(self.work, "reply.key")
        with open(dsn_file, "w") as f:
            f.write(self.dsn + " application_name=mailforumd\n")
        with open(key_file, "w") as f:
            f.write("chaos-reply-key-0123456789abcdef0123456789abcdef\n")
        os.chmod(dsn_file, 0o600)
        os.chmod(key_file, 0o600)
        boxes = "".join(
            "  - name: %s\n"
            "    imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: MF_CHAOS_IMAP_PASSWORD,"
            " idle: true, poll_interval: 5s}\n"
            "    after: {action: seen}\n"
            "    import_max_age: 3650d\n"
            "    acknowledge: false\n"
            "    rules:\n"
            "      - {name: all, action: thread, category: general}\n" % (box, self.imap.port, box)
            for box in MAILBOXES)
        self.cfg = os.path.join(self.work, "chaos.yaml")
        with open(self.cfg, "w") as f:
            f.write(
                "instance: {name: Chaos, base_url: 'http://127.0.0.1:1', domain: chaos.example}\n"
                "database: {dsn_file: %s}\n"
                "secrets: {reply_key_file: %s}\n"
                "smtp: {host: 127.0.0.1, port: %d, tls: none, from: 'Chaos Help <help@chaos.example>',"
                " reply_to: 'help+{token}@chaos.example'}\n"
                "limits: {new_threads_per_sender_per_hour: 100000}\n"
                "categories:\n  - {slug: general, name: General, watchers: [watcher@chaos.example]}\n"
                "mailboxes:\n%s" % (dsn_file, key_file, self.smtp.port, boxes))
        os.environ["MF_CHAOS_IMAP_PASSWORD"] = self.password
        subprocess.run([self.ctl, "migrate", "-c", self.cfg], check=True, capture_output=True)

    def generate(self):
        """The corpus mix into a staging Maildir; returns its messages (paths), in order."""
        stage = os.path.join(self.work, "stage", "Maildir")
        shutil.rmtree(os.path.dirname(stage), ignore_errors=True)
        subprocess.run([self.tool, "maildir", "--dir", stage, "--count", str(self.args.messages), "--seed",
                        str(self.args.seed), "--machine-every", "20"], check=True, capture_output=True)
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(stage, sub)
            files += [os.path.join(d, n) for n in os.listdir(d)]
        files.sort(key=lambda p: int(os.path.basename(p).split(".")[0]))  # the generator's order
        for box in MAILBOXES:
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.maildir(box), sub), exist_ok=True)
        return files

    def maildir(self, box):
        return os.path.join(self.env["MAILFORUM_TEST_IMAP_HOME"], box, "Maildir")

    def deliver(self, files):
        """Moves messages into the mailboxes (alternately), as an MTA delivers: tmp/ then a rename into new/."""
        for path in files:
            box = MAILBOXES[self.delivered % len(MAILBOXES)]
            name = os.path.basename(path).split(":")[0]
            tmp = os.path.join(self.maildir(box), "tmp", name)
            shutil.move(path, tmp)
            if os.geteuid() == 0:
                shutil.chown(tmp, "dovecot")
            os.rename(tmp, os.path.join(self.maildir(box), "new", name))
            self.delivered += 1
        if os.geteuid() == 0:
            for box in MAILBOXES:
                subprocess.run(["chown", "-R", "dovecot:", os.path.dirname(self.maildir(box))], check=False)

    # --- processes ---
    def start_daemon(self, name):
        out = open(os.path.join(self.work, name + ".log"), "a")
        self.daemons[name] = subprocess.Popen([self.daemon_bin, "-c", self.cfg], stdin=subprocess.DEVNULL,
                                              stdout=out, stderr=out)

    def kill_daemon(self, name, sig=signal.SIGKILL):
        p = self.daemons.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
        code = p.wait()
        if sig != signal.SIGKILL and code != 0:
            self.events["daemon %s exited %d at stop" % (name, code)] += 1

    def check_alive(self):
        for name, p in list(self.daemons.items()):
            if p.poll() is not None:
                self.events["daemon %s died by itself (exit %s), restarted" % (name, p.returncode)] += 1
                self.start_daemon(name)

    def restart_postgres(self):
        subprocess.run(as_user("postgres", [os.path.join(PGBIN, "pg_ctl"), "-D", os.path.join(self.dir, "pg", "data"),
                                            "-w", "-t", "120", "-m", "fast", "-l", os.path.join(self.dir, "pg", "log"),
                                            "restart"]),
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=self.dir)

    def restart_dovecot(self):
        subprocess.run([os.path.join(ROOT, "scripts", "testenv", "restart-dovecot"), self.dir], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    # --- the run ---
    def schedule(self):
        """(second, what) of every fault, in order."""
        d = self.args.fault_seconds
        ev = [(self.rng.uniform(0.02 * d, 0.98 * d), "kill") for _ in range(self.args.kills)]
        ev += [(self.rng.uniform(0.1 * d, 0.9 * d), "restart postgres") for _ in range(self.args.pg_restarts)]
        ev += [(self.rng.uniform(0.1 * d, 0.9 * d), "restart dovecot") for _ in range(self.args.dovecot_restarts)]
        ev += [(0.25 * d, "second daemon starts"), (0.6 * d, "second daemon stops"),
               (0.15 * d, "imap: reset mid-FETCH"), (0.2 * d, "imap: heal"),
               (0.4 * d, "smtp: 451 to DATA"), (0.5 * d, "smtp: answers again"),
               (0.7 * d, "smtp: reset mid-DATA"), (0.75 * d, "smtp: heal"),
               (0.8 * d, "imap: black-hole the connections"), (0.8 * d + 2, "imap: heal")]
        return sorted(ev)

    def fault(self, what):
        data_reply = os.path.join(self.env["MAILFORUM_TEST_SMTP_SPOOL"], "control", "data_reply")
        if what == "kill":
            self.kill_daemon("a")
            self.start_daemon("a")
        elif what == "restart postgres":
            self.restart_postgres()
        elif what == "restart dovecot":
            self.restart_dovecot()
        elif what == "second daemon starts":
            self.start_daemon("b")
        elif what == "second daemon stops":
            self.kill_daemon("b", signal.SIGTERM)
        elif what == "imap: reset mid-FETCH":
            self.imap.send("reset-after", "40000")
        elif what == "smtp: reset mid-DATA":
            self.smtp.send("reset-after", "300")
        elif what == "imap: black-hole the connections":
            self.imap.send("blackhole")
        elif what in ("imap: heal", "smtp: heal"):
            (self.imap if what.startswith("imap") else self.smtp).send("heal")
        elif what == "smtp: 451 to DATA":
            os.makedirs(os.path.dirname(data_reply), exist_ok=True)
            with open(data_reply, "w") as f:
                f.write("451 4.3.0 chaos: try again later\n")
        elif what == "smtp: answers again":
            os.remove(data_reply)
        self.events[what] += 1

    def run(self):
        self.imap = Proxy(self.work, "imap-proxy", int(self.env["MAILFORUM_TEST_IMAP_PORT"]))
        self.smtp = Proxy(self.work, "smtp-proxy", int(self.env["MAILFORUM_TEST_SMTP_PORT"]))
        try:
            return self.run_with_proxies()
        finally:
            for name in list(self.daemons):
                self.kill_daemon(name, signal.SIGTERM)
            self.imap.stop()
            self.smtp.stop()

    def run_with_proxies(self):
        self.database()
        self.config()
        files = self.generate()
        self.delivered = 0
        first = int(len(files) * 0.4)
        self.deliver(files[:first])
        later = files[first:]
        log("%d messages (%d now, %d during the faults); faults for %d s" % (
            len(files), first, len(later), self.args.fault_seconds))
        self.start_daemon("a")
        start = time.monotonic()
        plan = self.schedule()
        drops = 20
        chunk = (len(later) + drops - 1) // drops
        drop_times = [(i + 0.5) * self.args.fault_seconds / drops for i in range(drops)]
        while plan or drop_times:
            now = time.monotonic() - start
            if drop_times and drop_times[0] <= now:
                drop_times.pop(0)
                self.deliver(later[:chunk])
                later = later[chunk:]
            if plan and plan[0][0] <= now:
                what = plan.pop(0)[1]
                log("fault: " + what)
                self.fault(what)
            self.check_alive()
            time.sleep(0.05)
        self.deliver(later)
        # The last fault is over: everything healed, one daemon.
        self.imap.send("heal")
        self.smtp.send("heal")
        self.kill_daemon("b", signal.SIGTERM)
        self.check_alive()
        last_fault = time.monotonic()
        log("faults over; waiting for a clean state")
        clean = self.wait_clean(len(files))
        self.summarise(len(files), clean - last_fault if clean else None)
        return 0 if all(ok for _, _, ok in self.rows if ok is not None) else 1

    def query(self, sql):
        for _ in range(3):  # the database may be restarting
            try:
                c = psycopg2.connect(self.dsn)
                try:
                    cur = c.cursor()
                    cur.execute(sql)
                    return cur.fetchall()
                finally:
                    c.close()
            except psycopg2.OperationalError:
                time.sleep(1)
        raise RuntimeError("chaos: the database does not answer")

    def wait_clean(self, n):
        """The moment every message is recorded and acted on and no outbound mail is pending; None on timeout."""
        end = time.monotonic() + self.args.clean_timeout
        while time.monotonic() < end:
            self.check_alive()
            (recorded, acted), = self.query(
                "SELECT count(*), count(*) FILTER (WHERE post_action_done) FROM inbound_messages")
            (pending,), = self.query("SELECT count(*) FROM outbox WHERE status = 'pending'")
            if recorded >= n and acted == recorded and pending == 0:
                return time.monotonic()
            time.sleep(0.2)
        return None

    def unseen(self):
        total = 0
        for box in MAILBOXES:
            imap = imaplib.IMAP4("127.0.0.1", int(self.env["MAILFORUM_TEST_IMAP_PORT"]))
            imap.login(box, self.password)
            imap.select("INBOX", readonly=True)
            _, data = imap.uid("SEARCH", None, "UNSEEN")
            total += len(data[0].split())
            imap.logout()
        return total

    def outbound_copies(self):
        """Message-ID -> how many copies the SMTP sink received."""
        spool = os.path.join(self.env["MAILFORUM_TEST_SMTP_SPOOL"], "new")
        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        copies = collections.Counter()
        for name in os.listdir(spool):
            if name.endswith(".json"):
                continue
            with open(os.path.join(spool, name), "rb") as f:
                copies[str(parser.parse(f).get("Message-ID", "")).strip()] += 1
        return copies

    def check(self, name, value, ok=None):
        self.rows.append((name, value, ok))

    def summarise(self, n, clean_seconds):
        (recorded,), = self.query("SELECT count(*) FROM inbound_messages")
        outcomes = self.query("SELECT outcome, count(*) FROM inbound_messages GROUP BY 1 ORDER BY 1")
        (keys_twice,), = self.query(
            "SELECT count(*) FROM (SELECT message_key FROM inbound_messages WHERE outcome <> 'duplicate' "
            "GROUP BY 1 HAVING count(*) > 1) k")
        (posts_twice,), = self.query(
            "SELECT count(*) FROM (SELECT message_id FROM message_ids WHERE direction = 'inbound' "
            "GROUP BY 1 HAVING count(DISTINCT post_id) > 1) m")
        (posted, posts), = self.query(
            "SELECT (SELECT count(*) FROM inbound_messages WHERE outcome = 'posted'), (SELECT count(*) FROM posts)")
        (quarantined,), = self.query("SELECT count(*) FROM inbound_messages WHERE outcome = 'quarantined'")
        statuses = dict(self.query("SELECT status, count(*) FROM outbox GROUP BY 1"))
        ours = {m for (m,) in self.query("SELECT '<' || message_id || '>' FROM outbox WHERE status = 'sent'")}
        copies = self.outbound_copies()
        sent_rows = statuses.get("sent", 0)
        delivered = sum(1 for m in ours if copies.get(m, 0) > 0)
        duplicates = sum(copies[m] - 1 for m in ours if copies.get(m, 0) > 1)
        events = ", ".join("%s %d" % (k, v) for k, v in sorted(self.events.items()))
        self.check("faults", events)
        self.check("messages delivered to the mailboxes", n)
        self.check("inbound messages recorded (lost = messages - recorded)", "%d (lost %d)" % (recorded, n - recorded),
                   recorded == n)
        self.check("outcomes", ", ".join("%s %d" % o for o in outcomes))
        self.check("message keys with more than one outcome", keys_twice, keys_twice == 0)
        self.check("inbound messages with more than one post", posts_twice, posts_twice == 0)
        self.check("posts / messages posted", "%d / %d" % (posts, posted), posts == posted)
        self.check("unexpected quarantine entries", quarantined, quarantined == 0)
        unseen = self.unseen()
        self.check("messages left unseen in the mailboxes", unseen, unseen == 0)
        self.check("outbound rows by status", ", ".join("%s %d" % kv for kv in sorted(statuses.items())))
        self.check("outbound mail still pending", statuses.get("pending", 0), statuses.get("pending", 0) == 0)
        self.check("sent rows the SMTP server received", "%d of %d" % (delivered, sent_rows), delivered == sent_rows)
        self.check("outbound duplicates (extra copies, same Message-ID)", duplicates)
        self.check("time from the last fault to a clean state",
                   "%.1f s" % clean_seconds if clean_seconds is not None else
                   "not clean after %d s" % self.args.clean_timeout, clean_seconds is not None)

    def write(self, out, started, wall):
        width = max(len(r[0]) for r in self.rows)
        lines = ["%-*s  %-40s %s" % (width, name, value, "" if ok is None else ("ok" if ok else "FAILED"))
                 for name, value, ok in self.rows]
        table = "\n".join(line.rstrip() for line in lines)
        print(table)
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(out, "w") as f:
            f.write("# Chaos run, %s\n\nWritten by scripts/chaos (never edited by hand). See docs/benchmarks.md.\n\n"
                    "- git revision: %s\n- options: %s\n- run time: %.0f s\n\n```\n%s\n```\n" % (
                        started, rev or "unknown", " ".join(sys.argv[1:]), wall, table))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--env-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--pg-restarts", type=int, default=2)
    ap.add_argument("--dovecot-restarts", type=int, default=2)
    ap.add_argument("--fault-seconds", type=float, default=300)
    ap.add_argument("--clean-timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=20261205)
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.monotonic()
    chaos = Chaos(args)
    try:
        code = chaos.run()
    except Exception as e:  # noqa: BLE001 - report any failure of the rig as exit 2
        log("error: %s" % e)
        return 2
    chaos.write(args.out, started, time.monotonic() - t0)
    return code


if __name__ == "__main__":
    sys.exit(main())

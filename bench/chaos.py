#!/usr/bin/python3
"""The chaos run (issue 13, item 4): mailforumd ingests a generated mailbox and
sends the answers and notifications it makes while every fault happens at once:
kill -9 of the daemon at random moments, PostgreSQL and Dovecot restarts, a
second daemon sharing the mailboxes for part of the run, the SMTP server
answering 4xx for a while and connections reset mid-DATA and mid-reply, the
IMAP connections black-holed during IDLE and connections reset mid-FETCH
(through scripts/testenv/fault_proxy.py); with --pg-faults the daemons'
PostgreSQL connections go through a proxy too, which refuses new connections
for a while and resets the open ones. Mail keeps arriving during the faults.

The mail: the corpus generator's mix (bench/corpus_generator.h) with machine
mail; a share of it rewritten into replies to earlier messages of the run (a
different sender), so that posts land in existing threads and fan out answers
to the asker and the participants and notifications to the watcher; and a few
deliberately broken messages (a PDF mailed raw, MIME nested too deep, too many
parts), each marked "chaos-broken-N", the only quarantine allowed.

Once the faults stop it waits for a clean state and checks: every delivered
message recorded exactly once with one outcome and at most one post; nothing
left unseen or unrecorded in the mailboxes; the broken messages quarantined and
nothing else; no outbound mail pending or failed, every sent row received by
the SMTP server, every received copy one of our rows' Message-IDs, duplicates
counted; the black-holed IDLE connections noticed within keepalive + timeout;
the time from the last fault to the clean state. It also says what the faults
did (connections reset and refused by the proxies, retries, the daemons'
warnings). It prints a summary table and writes it to --out.

scripts/chaos starts the servers (scripts/testenv) and runs this; see
docs/benchmarks.md. Every process it starts is written to WORK/pids ("pid
path" lines) so that scripts/chaos can kill what is left by pid, whatever
happened; SIGTERM and SIGINT stop the run cleanly.

usage: chaos.py --build DIR --env-dir DIR --out FILE [--messages N] [--kills N]
       [--pg-restarts N] [--dovecot-restarts N] [--fault-seconds S] [--seed N] ...
Exit 0 when every check holds, 1 when one fails, 2 on an error.
"""
import argparse
import calendar
import collections
import email.parser
import email.policy
import imaplib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_bench import read_env, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = "/usr/lib/postgresql/15/bin"
MAILBOXES = ("chaos1", "chaos2")
FAULT_PROXY = os.path.join(ROOT, "scripts", "testenv", "fault_proxy.py")
BROKEN_MARK = "chaos-broken-"
COMMAND_TIMEOUT = 180  # seconds any helper command may take (pg_ctl, restart-dovecot, the proxy's client)


def log(msg):
    print("chaos: %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def as_user(user, cmd):
    return (["runuser", "-u", user, "--"] + cmd) if os.geteuid() == 0 else cmd


def note_pid(work, pid, path):
    """Records a started process in WORK/pids, so that scripts/chaos can kill it by pid if we cannot."""
    with open(os.path.join(work, "pids"), "a") as f:
        f.write("%d %s\n" % (pid, path))


def seconds(text):
    """'90s', '2m', '500ms' -> seconds."""
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", text)
    if not m:
        raise ValueError("not a duration: " + text)
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


class Proxy:
    """A fault_proxy.py in front of a target port, driven by its control port."""

    def __init__(self, work, name, target_port):
        self.name = name
        self.ports_file = os.path.join(work, name + ".ports")
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAULT_PROXY, "--target", "127.0.0.1:%d" % target_port, "--ports-file", self.ports_file],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        note_pid(work, self.proc.pid, sys.executable)
        wait_for("the %s proxy's ports" % name, lambda: os.path.exists(self.ports_file), 30)
        with open(self.ports_file) as f:
            ports = dict(line.split() for line in f if line.strip())
        self.port, self.control = int(ports["listen"]), int(ports["control"])

    def send(self, *command):
        """Sends one command line on the control port; its answer ("ok ..."). Raises on "error ..."."""
        with socket.create_connection(("127.0.0.1", self.control), timeout=30) as s:
            s.sendall((" ".join(command) + "\n").encode())
            answer = s.makefile("r", encoding="utf-8", errors="replace").readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError("fault proxy: %s: %s" % (" ".join(command), answer or "no answer"))
        return answer

    def stats(self):
        """{"open": N, "total": M, "up": U, "down": D, "resets": R, "refused": F} (and "mode")."""
        return {k: (v if k == "mode" else int(v)) for k, v in re.findall(r"(\w+)=(\S+)", self.send("stats"))}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()


# --- the mail ----------------------------------------------------------------

def header_block(raw):
    end = raw.find(b"\r\n\r\n")
    return (raw, b"") if end < 0 else (raw[:end + 2], raw[end + 2:])


def header_value(head, name):
    """The first field `name`'s value, unfolded, or None."""
    m = re.search(rb"(?im)^" + re.escape(name) + rb":[ \t]*(.*(?:\r\n[ \t].*)*)", head)
    return None if m is None else re.sub(rb"\r\n[ \t]+", b" ", m.group(1)).strip().decode("latin-1")


def without_fields(head, names):
    """The header block without the fields `names` (and their continuation lines)."""
    out, skipping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = any(line.lower().startswith(n.lower() + b":") for n in names)
        if not skipping:
            out.append(line)
    return b"\r\n".join(out)


def address_of(from_value):
    m = re.search(r"<([^>]+)>", from_value or "")
    return (m.group(1) if m else (from_value or "")).strip().lower()


def broken_message(k):
    """The k-th deliberately broken message (k from 1): bytes that must be quarantined."""
    mark = "%s%d" % (BROKEN_MARK, k)
    head = ("From: Broken Sender <broken%d@customer.example>\r\nTo: help@chaos.example\r\n"
            "Subject: broken message %d\r\nMessage-ID: <%s@customer.example>\r\nX-Chaos-Broken: %s\r\n"
            "MIME-Version: 1.0\r\n" % (k, k, mark, mark))
    kind = k % 3
    if kind == 1:  # a PDF mailed raw: no header field before the body
        body = "%%PDF-1.4 %s\r\n%%\xe2\xe3\xcf\xd3\r\n1 0 obj << /Type /Catalog >> endobj\r\n" % mark
        return body.encode("latin-1") + bytes(random.Random(k).randrange(256) for _ in range(4000))
    if kind == 2:  # MIME nested deeper than max_mime_depth (32)
        depth = 40
        text = head
        for level in range(depth):
            text += 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        text += "Content-Type: text/plain\r\n\r\n%s: nested %d deep\r\n" % (mark, depth)
        for level in reversed(range(depth)):
            text += "--b%d--\r\n" % level
        return text.encode()
    parts = 600  # more parts than max_parts (500)
    text = head + 'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
    for i in range(parts):
        text += "--p\r\nContent-Type: text/plain\r\n\r\n%s part %d\r\n" % (mark, i)
    return (text + "--p--\r\n").encode()


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
        self.pg = None  # the PostgreSQL proxy, with --pg-faults
        self.blackholed_at = None  # wall-clock time of the IDLE black-hole
        self.broken = 0
        self.replies = 0
        self.hit_baseline = {}  # the heal a window waits for -> the count it must exceed
        self.windows = collections.Counter()  # "hit" / "missed" -> windows
        self.last_fault = (None, None)  # (monotonic time, what) of the last fault event, heals included
        self.revision = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                                       text=True).stdout.strip()  # of the code that runs, read at the start

    def opt(self, name, default):
        """An option of this run; `default` for runs whose arguments do not have it (bench/soak.py)."""
        return getattr(self.args, name, default)

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
        daemon_dsn = self.dsn
        if self.pg is not None:
            daemon_dsn = re.sub(r"\bport=\d+", "port=%d" % self.pg.port, self.dsn)
        with open(dsn_file, "w") as f:
            f.write(daemon_dsn + " application_name=mailforumd\n")
        with open(key_file, "w") as f:
            f.write("chaos-reply-key-0123456789abcdef0123456789abcdef\n")
        os.chmod(dsn_file, 0o600)
        os.chmod(key_file, 0o600)
        imap_extra = "".join(", %s: %s" % (key, self.opt("imap_" + key, None))
                             for key in ("keepalive", "timeout") if self.opt("imap_" + key, None))
        boxes = "".join(
            "  - name: %s\n"
            "    imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: MF_CHAOS_IMAP_PASSWORD,"
            " idle: true%s}\n"
            "    after: {action: seen}\n"
            "    import_max_age: 3650d\n"
            "    acknowledge: false\n"
            "    rules:\n"
            "      - {name: all, action: thread, category: general}\n" % (box, self.imap.port, box, imap_extra)
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
                "outbox: {retry_base: %s}\n"
                "log: {format: json}\n"
                "categories:\n  - {slug: general, name: General, watchers: [watcher@chaos.example]}\n"
                "mailboxes:\n%s" % (dsn_file, key_file, self.smtp.port, self.opt("retry_base", "1m"), boxes))
        os.environ["MF_CHAOS_IMAP_PASSWORD"] = self.password
        subprocess.run([self.ctl, "migrate", "-c", self.cfg], check=True, capture_output=True,
                       timeout=COMMAND_TIMEOUT)

    def generate(self):
        """The mail into a staging Maildir; returns its messages (paths), in delivery order: the corpus
        generator's mix, a share of it rewritten into replies to earlier messages, and the broken ones."""
        stage = os.path.join(self.work, "stage", "Maildir")
        shutil.rmtree(os.path.dirname(stage), ignore_errors=True)
        machine_every = 20
        subprocess.run([self.tool, "maildir", "--dir", stage, "--count", str(self.args.messages), "--seed",
                        str(self.args.seed), "--machine-every", str(machine_every)], check=True,
                       capture_output=True, timeout=1800)
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(stage, sub)
            files += [os.path.join(d, n) for n in os.listdir(d)]
        files.sort(key=lambda p: int(os.path.basename(p).split(".")[0]))  # the generator's order
        files = self.make_replies(files, machine_every)
        broken = self.opt("broken", 0)
        for k in range(1, broken + 1):
            raw = broken_message(k)
            path = os.path.join(stage, "cur", "%010d.M%dP2.chaos,S=%d:2," % (1800000000 + k, k, len(raw)))
            with open(path, "wb") as f:
                f.write(raw)
            # Spread over the part delivered during the faults.
            files.insert(int(len(files) * (0.45 + 0.5 * k / (broken + 1))), path)
        self.broken = broken
        for box in MAILBOXES:
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.maildir(box), sub), exist_ok=True)
            if os.geteuid() == 0:
                subprocess.run(["chown", "-R", "dovecot:", os.path.dirname(self.maildir(box))], check=True,
                               timeout=COMMAND_TIMEOUT)
        return files

    def make_replies(self, files, machine_every):
        """Rewrites a share (--reply-share) of the human mail into replies to a message delivered 20 to
        300 messages earlier, from another sender: the post joins that thread and fans out answers to
        its people and a notification to the watcher. Returns the paths (renamed: Maildir names carry
        the size)."""
        share = self.opt("reply_share", 0.0)
        if share <= 0:
            return files
        heads = []
        for path in files:
            with open(path, "rb") as f:
                head, _ = header_block(f.read(256 * 1024))
            heads.append((header_value(head, b"Message-ID"), address_of(header_value(head, b"From"))))
        out = list(files)
        for i, path in enumerate(files):
            if i < 20 or i % machine_every == machine_every - 1 or self.rng.random() >= share:
                continue
            candidates = [j for j in range(max(0, i - 300), i - 20)
                          if j % machine_every != machine_every - 1 and heads[j][0] and heads[j][1] != heads[i][1]]
            if not candidates:
                continue
            parent = heads[self.rng.choice(candidates)][0]
            with open(path, "rb") as f:
                head, body = header_block(f.read())
            head = without_fields(head, (b"In-Reply-To", b"References"))
            raw = head + ("In-Reply-To: %s\r\nReferences: %s\r\n" % (parent, parent)).encode() + body
            name = re.sub(r",S=\d+", ",S=%d" % len(raw), os.path.basename(path))
            new_path = os.path.join(os.path.dirname(path), name)
            os.remove(path)
            with open(new_path, "wb") as f:
                f.write(raw)
            out[i] = new_path
            self.replies += 1
        return out

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

    # --- processes ---
    def start_daemon(self, name):
        out = open(os.path.join(self.work, name + ".log"), "a")
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}  # time-stamped lines
        self.daemons[name] = subprocess.Popen([self.daemon_bin, "-c", self.cfg], stdin=subprocess.DEVNULL,
                                              stdout=out, stderr=out, env=env)
        note_pid(self.work, self.daemons[name].pid, self.daemon_bin)

    def kill_daemon(self, name, sig=signal.SIGKILL):
        p = self.daemons.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
        try:
            code = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.events["daemon %s did not stop within 60 s of signal %d, killed" % (name, sig)] += 1
            p.kill()
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
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=self.dir,
                       timeout=COMMAND_TIMEOUT)

    def restart_dovecot(self):
        subprocess.run([os.path.join(ROOT, "scripts", "testenv", "restart-dovecot"), self.dir], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)

    # --- the run ---
    def schedule(self):
        """(second, what) of every fault, in order. Kills and restarts fall in the first 75% of the fault
        time; then the IMAP connections are black-holed with one daemon running, so that only the
        daemon's own dead-connection detection can notice it."""
        d = self.args.fault_seconds
        ev = [(self.rng.uniform(0.02 * d, 0.75 * d), "kill") for _ in range(self.args.kills)]
        ev += [(self.rng.uniform(0.1 * d, 0.72 * d), "restart postgres") for _ in range(self.args.pg_restarts)]
        ev += [(self.rng.uniform(0.1 * d, 0.72 * d), "restart dovecot") for _ in range(self.args.dovecot_restarts)]
        ev += [(0.25 * d, "second daemon starts"), (0.6 * d, "second daemon stops"),
               (0.15 * d, "imap: reset mid-FETCH"), (0.2 * d, "imap: heal"),
               (0.3 * d, "smtp: 451 to DATA"), (0.42 * d, "smtp: answers again"),
               (0.45 * d, "smtp: reset mid-DATA"), (0.5 * d, "smtp: heal"),
               (0.8 * d, "imap: black-hole the connections"), (0.8 * d + 2, "imap: heal")]
        # Cuts in the server's replies at a byte from 220 to 340 of a session: around the reply to the
        # end of DATA, the case where the server has the mail and the client does not know.
        for k in range(self.opt("smtp_reply_cuts", 1)):
            at = (0.52 + 0.2 * k / max(1, self.opt("smtp_reply_cuts", 1))) * d
            ev += [(at, "smtp: reset mid-reply"), (at + 0.04 * d, "smtp: heal")]
        if self.pg is not None:
            ev += [(0.33 * d, "postgres: refuse new connections"), (0.38 * d, "postgres: heal"),
                   (0.55 * d, "postgres: reset every connection"), (0.65 * d, "postgres: reset every connection")]
        return sorted(ev)

    def log_count(self, text):
        """Lines of the daemons' logs containing `text`."""
        n = 0
        for name in ("a", "b"):
            path = os.path.join(self.work, name + ".log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    n += sum(1 for line in f if text in line)
        return n

    # A window of a fault is closed by its heal only once the fault hit (a connection reset, a 451
    # given): what the window waits for, as a count that must grow.
    HITS = {
        "imap: heal": lambda self: self.imap.stats()["resets"],
        "smtp: heal": lambda self: self.smtp.stats()["resets"],
        "smtp: answers again": lambda self: self.log_count("chaos: try again later"),
        "postgres: heal": lambda self: self.pg.stats()["refused"],
    }

    @staticmethod
    def opens_window(what):
        """The heal that closes the window `what` opens, when the window must hit before it closes."""
        return {"imap: reset mid-FETCH": "imap: heal", "smtp: reset mid-DATA": "smtp: heal",
                "smtp: reset mid-reply": "smtp: heal", "smtp: 451 to DATA": "smtp: answers again",
                "postgres: refuse new connections": "postgres: heal"}.get(what)

    def hit(self, heal):
        """Whether the window `heal` closes has hit (true when none is waiting)."""
        if heal not in self.hit_baseline:
            return True
        return self.HITS[heal](self) > self.hit_baseline[heal]

    def close_window(self, heal, missed=False):
        if heal in self.hit_baseline:
            del self.hit_baseline[heal]
            self.windows["missed" if missed else "hit"] += 1
        self.fault(heal)

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
            self.smtp.send("reset-after-up", "1500")  # past the commands, inside the first mail's bytes
        elif what == "smtp: reset mid-reply":
            self.smtp.send("reset-after", str(self.rng.randint(220, 340)))
        elif what == "imap: black-hole the connections":
            self.blackholed_at = time.time()
            self.imap.send("blackhole")
        elif what in ("imap: heal", "smtp: heal"):
            (self.imap if what.startswith("imap") else self.smtp).send("heal")
        elif what == "smtp: 451 to DATA":
            os.makedirs(os.path.dirname(data_reply), exist_ok=True)
            with open(data_reply, "w") as f:
                f.write("451 4.3.0 chaos: try again later\n")
        elif what == "smtp: answers again":
            if os.path.exists(data_reply):
                os.remove(data_reply)
        elif what == "postgres: refuse new connections":
            self.pg.send("refuse")
        elif what == "postgres: reset every connection":
            self.pg.send("reset")
        elif what == "postgres: heal":
            self.pg.send("heal")
        heal = self.opens_window(what)
        if heal is not None:
            self.hit_baseline[heal] = self.HITS[heal](self)
        self.events[what] += 1
        self.last_fault = (time.monotonic(), what)

    def run(self):
        self.imap = Proxy(self.work, "imap-proxy", int(self.env["MAILFORUM_TEST_IMAP_PORT"]))
        self.smtp = Proxy(self.work, "smtp-proxy", int(self.env["MAILFORUM_TEST_SMTP_PORT"]))
        if self.opt("pg_faults", False):
            self.pg = Proxy(self.work, "pg-proxy", int(self.env["MAILFORUM_TEST_PG_PORT"]))
        try:
            return self.run_with_proxies()
        finally:
            for name in list(self.daemons):
                self.kill_daemon(name, signal.SIGTERM)
            for proxy in (self.imap, self.smtp, self.pg):
                if proxy is not None:
                    proxy.stop()

    def run_with_proxies(self):
        self.database()
        self.config()
        files = self.generate()
        self.delivered = 0
        first = int(len(files) * 0.4)
        self.deliver(files[:first])
        later = files[first:]
        log("%d messages (%d replies to earlier ones, %d broken; %d now, %d during the faults); faults for %d s"
            % (len(files), self.replies, self.broken, first, len(later), self.args.fault_seconds))
        self.start_daemon("a")
        start = time.monotonic()
        plan = self.schedule()
        drops = max(20, int(self.args.fault_seconds / 2))
        chunk = (len(later) + drops - 1) // drops
        drop_times = [(i + 0.5) * self.args.fault_seconds / drops for i in range(drops)]
        deferred = []  # heals whose window has not hit yet
        next_look = 0.0
        while plan or drop_times or deferred:
            now = time.monotonic() - start
            if drop_times and drop_times[0] <= now:
                drop_times.pop(0)
                self.deliver(later[:chunk])
                later = later[chunk:]
            if plan and plan[0][0] <= now:
                what = plan.pop(0)[1]
                if what in self.hit_baseline:
                    deferred.append(what)  # closed below, once the fault hit
                else:
                    log("fault: " + what)
                    self.fault(what)
            if deferred and now >= next_look:
                next_look = now + 0.5
                for heal in list(deferred):
                    # Mail keeps arriving until the fault time is over: a window still open then missed.
                    missed = not plan and not drop_times and not self.hit(heal)
                    if missed or self.hit(heal):
                        deferred.remove(heal)
                        log("fault: %s (%s)" % (heal, "the window never hit" if missed else "the window hit"))
                        self.close_window(heal, missed)
            self.check_alive()
            time.sleep(0.05)
        self.deliver(later)
        # The last fault is over: everything healed, one daemon.
        self.imap.send("heal")
        self.smtp.send("heal")
        if self.pg is not None:
            self.pg.send("heal")
        self.kill_daemon("b", signal.SIGTERM)
        self.check_alive()
        last_fault = time.monotonic()
        (recorded, acted), = self.query(
            "SELECT count(*), count(*) FILTER (WHERE post_action_done) FROM inbound_messages")
        (pending,), = self.query("SELECT count(*) FROM outbox WHERE status = 'pending'")
        self.backlog = "%d messages not recorded, %d not acted on, %d mails pending" % (
            len(files) - recorded, recorded - acted, pending)
        log("faults over (%s); waiting for a clean state" % self.backlog)
        clean = self.wait_clean(len(files))
        if clean is not None and self.last_fault[0] is not None:
            self.since_last_fault = (clean - self.last_fault[0], self.last_fault[1], last_fault - self.last_fault[0])
        self.summarise(len(files), clean - last_fault if clean else None)
        return 0 if all(ok for _, _, ok in self.rows if ok is not None) else 1

    def query(self, sql):
        for _ in range(30):  # the database may be restarting
            try:
                c = psycopg2.connect(self.dsn, connect_timeout=10)
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

    def imap_uids(self, box, folder, search="ALL"):
        """(uidvalidity, set of UIDs) of `folder` matching `search`; (None, set()) when it does not exist."""
        imap = imaplib.IMAP4("127.0.0.1", int(self.env["MAILFORUM_TEST_IMAP_PORT"]), timeout=60)
        try:
            imap.login(box, self.password)
            typ, _ = imap.select(folder, readonly=True)
            if typ != "OK":
                return None, set()
            _, data = imap.response("UIDVALIDITY")
            _, found = imap.uid("SEARCH", None, search)
            return int(data[0]), {int(u) for u in found[0].split()}
        finally:
            imap.logout()

    def unseen(self):
        return sum(len(self.imap_uids(box, "INBOX", "UNSEEN")[1]) for box in MAILBOXES)

    def outbound_copies(self):
        """(Message-ID, recipient) -> how many copies the SMTP sink received. One post's answers and
        notifications share its Message-ID: a row is its Message-ID and its recipient."""
        spool = os.path.join(self.env["MAILFORUM_TEST_SMTP_SPOOL"], "new")
        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        copies = collections.Counter()
        for name in os.listdir(spool):
            if name.endswith(".json"):
                continue
            with open(os.path.join(spool, name), "rb") as f:
                message_id = str(parser.parse(f).get("Message-ID", "")).strip()
            with open(os.path.join(spool, name + ".json")) as f:
                recipients = json.load(f)["rcpt_tos"]
            for rcpt in recipients:
                copies[(message_id, rcpt.lower())] += 1
        return copies

    def check(self, name, value, ok=None):
        self.rows.append((name, value, ok))

    def daemon_log(self):
        """The daemons' log records (JSON lines; others as {"msg": line})."""
        records = []
        for name in ("a", "b"):
            path = os.path.join(self.work, name + ".log")
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = {"msg": line.strip()}
                    if isinstance(rec, dict):
                        rec["daemon"] = name
                        records.append(rec)
        return records

    def blackhole_noticed(self, records):
        """Seconds from the IDLE black-hole to each mailbox's first complaint (a warning or error naming it)."""
        out = {}
        for rec in records:
            if rec.get("level") not in ("warning", "error") or "time" not in rec:
                continue
            t = calendar.timegm(time.strptime(rec["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + rec["time"][19:-1])
            if t < self.blackholed_at:
                continue
            for box in MAILBOXES:
                if "mailbox %s" % box in rec.get("msg", "") and box not in out:
                    out[box] = t - self.blackholed_at
        return out

    def summarise(self, n, clean_seconds):
        recorded_rows = self.query("SELECT mailbox, uidvalidity, uid, outcome FROM inbound_messages")
        (recorded,), = self.query("SELECT count(*) FROM inbound_messages")
        outcomes = self.query("SELECT outcome, count(*) FROM inbound_messages GROUP BY 1 ORDER BY 1")
        (keys_twice,), = self.query(
            "SELECT count(*) FROM (SELECT message_key FROM inbound_messages WHERE outcome <> 'duplicate' "
            "GROUP BY 1 HAVING count(*) > 1) k")
        (posts_twice,), = self.query(
            "SELECT count(*) FROM (SELECT message_id FROM message_ids WHERE direction = 'inbound' "
            "GROUP BY 1 HAVING count(DISTINCT post_id) > 1) m")
        (posted, posts, answers_in_threads), = self.query(
            "SELECT (SELECT count(*) FROM inbound_messages WHERE outcome = 'posted'), (SELECT count(*) FROM posts), "
            "(SELECT count(*) FROM posts p WHERE p.id > (SELECT min(id) FROM posts q WHERE q.thread_id = p.thread_id))")
        (quarantined, broken_quarantined), = self.query(
            "SELECT count(*), count(*) FILTER (WHERE position(convert_to('%s', 'UTF8') IN raw) > 0) "
            "FROM inbound_messages WHERE outcome = 'quarantined'" % BROKEN_MARK)
        statuses = dict(self.query("SELECT status, count(*) FROM outbox GROUP BY 1"))
        kinds = self.query("SELECT kind, count(*) FROM outbox GROUP BY 1 ORDER BY 1")
        attempts = self.query("SELECT attempts, count(*) FROM outbox GROUP BY 1 ORDER BY 1")
        ours = {(m, r) for (m, r) in self.query(
            "SELECT '<' || message_id || '>', lower(recipient) FROM outbox WHERE status = 'sent'")}
        every_row = {(m, r) for (m, r) in self.query("SELECT '<' || message_id || '>', lower(recipient) FROM outbox")}
        copies = self.outbound_copies()
        sent_rows = statuses.get("sent", 0)
        delivered = sum(1 for m in ours if copies.get(m, 0) > 0)
        duplicates = sum(copies[m] - 1 for m in ours if copies.get(m, 0) > 1)
        stray = sum(c for m, c in copies.items() if m not in every_row)

        # Every delivered message recorded once: per mailbox, the UIDs recorded under the mailbox's
        # UIDVALIDITY are those still in the INBOX plus those moved to the quarantine.
        lost, unrecorded = 0, 0
        for box in MAILBOXES:
            validity, inbox = self.imap_uids(box, "INBOX")
            mine = {(uid, outcome) for (mb, uv, uid, outcome) in recorded_rows if mb == box and uv == validity}
            uids = {uid for uid, _ in mine}
            moved = {uid for uid, outcome in mine if outcome == "quarantined"}
            unrecorded += len(inbox - uids)
            lost += len(uids - inbox - moved)
        self.check("faults", ", ".join("%s %d" % (k, v) for k, v in sorted(self.events.items())))
        if self.windows:
            self.check("fault windows that hit (a reset, a refusal, a 451) before they closed",
                       "%d of %d" % (self.windows["hit"], sum(self.windows.values())), self.windows["missed"] == 0)
        self.check("messages delivered to the mailboxes", "%d (%d replies to earlier messages, %d broken)" % (
            n, self.replies, self.broken))
        self.check("inbound messages recorded (lost = messages - recorded)", "%d (lost %d)" % (recorded, n - recorded),
                   recorded == n)
        self.check("messages in the INBOX without a record / records of vanished messages",
                   "%d / %d" % (unrecorded, lost), unrecorded == 0 and lost == 0)
        self.check("outcomes", ", ".join("%s %d" % o for o in outcomes))
        self.check("message keys with more than one outcome", keys_twice, keys_twice == 0)
        self.check("inbound messages with more than one post", posts_twice, posts_twice == 0)
        self.check("posts / messages posted", "%d / %d" % (posts, posted), posts == posted)
        self.check("posts that joined an existing thread", answers_in_threads)
        self.check("broken messages quarantined", "%d of %d" % (broken_quarantined, self.broken),
                   broken_quarantined == self.broken)
        self.check("unexpected quarantine entries", quarantined - broken_quarantined,
                   quarantined == broken_quarantined)
        unseen = self.unseen()
        self.check("messages left unseen in the mailboxes", unseen, unseen == 0)
        self.check("outbound rows by kind", ", ".join("%s %d" % kv for kv in kinds))
        self.check("outbound rows by status", ", ".join("%s %d" % kv for kv in sorted(statuses.items())))
        self.check("outbound rows by attempts", ", ".join("%d: %d" % kv for kv in attempts))
        self.check("outbound mail still pending", statuses.get("pending", 0), statuses.get("pending", 0) == 0)
        self.check("outbound mail failed", statuses.get("failed", 0), statuses.get("failed", 0) == 0)
        self.check("sent rows the SMTP server received", "%d of %d" % (delivered, sent_rows), delivered == sent_rows)
        self.check("copies received / not one of our rows (Message-ID, recipient)", "%d / %d" % (sum(copies.values()), stray),
                   stray == 0)
        self.check("outbound duplicates (extra copies of a row, its one Message-ID)", duplicates)
        if getattr(self, "backlog", None):
            self.check("backlog when the fault time ended", self.backlog)
        self.check("time from the end of the fault time (the last mail delivered) to a clean state",
                   "%.1f s" % clean_seconds if clean_seconds is not None else
                   "not clean after %d s" % self.args.clean_timeout, clean_seconds is not None)
        if clean_seconds is not None and getattr(self, "since_last_fault", None):
            seconds_, what, before_end = self.since_last_fault
            self.check("time from the last fault (%s, %.0f s before the end) to a clean state" % (what, before_end),
                       "%.1f s" % seconds_)
        self.what_the_faults_did()

    def what_the_faults_did(self):
        records = self.daemon_log()
        if self.blackholed_at is not None:
            bound = seconds(self.opt("imap_keepalive", None) or "60s") + seconds(self.opt("imap_timeout", None) or "30s")
            noticed = self.blackhole_noticed(records)
            worst = max(noticed.values()) if len(noticed) == len(MAILBOXES) else None
            self.check("black-holed IDLE noticed after (bound keepalive + timeout = %.0f s)" % bound,
                       ", ".join("%s %.1f s" % kv for kv in sorted(noticed.items())) or "never",
                       worst is not None and worst <= bound + 5)
        for proxy in (self.imap, self.smtp, self.pg):
            if proxy is not None:
                s = proxy.stats()
                self.check("%s: connections / reset / refused" % proxy.name, "%d / %d / %d" % (
                    s.get("total", 0), s.get("resets", 0), s.get("refused", 0)))
        tally = collections.Counter()
        for rec in records:
            if rec.get("level") in ("warning", "error"):
                text = re.sub(r"(?<!chaos)[0-9]+", "N", rec.get("msg", ""))
                text = re.sub(r"<[^>]*>", "<..>", text)
                tally["%s: %s" % (rec["level"], text[:90])] += 1
        for text, count in tally.most_common(self.opt("log_lines", 15)):
            self.check("daemon log", "%5d  %s" % (count, text))

    def write(self, out, started, wall):
        width = max(len(r[0]) for r in self.rows)
        lines = ["%-*s  %-40s %s" % (width, name, value, "" if ok is None else ("ok" if ok else "FAILED"))
                 for name, value, ok in self.rows]
        table = "\n".join(line.rstrip() for line in lines)
        print(table)
        verdict = "every check holds" if all(ok for _, _, ok in self.rows if ok is not None) else "FAILED"
        rev = getattr(self, "revision", "")
        with open(out, "w") as f:
            f.write("# Chaos run, %s\n\nWritten by scripts/chaos (never edited by hand). See docs/benchmarks.md.\n\n"
                    "- git revision: %s\n- options: %s\n- run time: %.0f s\n- load average at the end: %s\n\n"
                    "## Verdict: %s\n\n```\n%s\n```\n" % (
                        started, rev or "unknown", " ".join(sys.argv[1:]), wall,
                        " ".join("%.2f" % x for x in os.getloadavg()), verdict, table))


def stop_on_signals():
    """SIGTERM and SIGINT end the run through the finally blocks: daemons and proxies stopped."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--env-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--pg-restarts", type=int, default=2)
    ap.add_argument("--dovecot-restarts", type=int, default=2)
    ap.add_argument("--fault-seconds", type=float, default=600)
    ap.add_argument("--clean-timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--reply-share", type=float, default=0.3, help="share of the mail rewritten into replies")
    ap.add_argument("--broken", type=int, default=5, help="deliberately broken messages")
    ap.add_argument("--smtp-reply-cuts", type=int, default=3, help="windows of resets inside the SMTP replies")
    ap.add_argument("--retry-base", default="5s", help="the daemons' outbox.retry_base")
    ap.add_argument("--imap-keepalive", help="the mailboxes' imap.keepalive (default: the daemon's, 60s)")
    ap.add_argument("--imap-timeout", help="the mailboxes' imap.timeout (default: the daemon's, 30s)")
    ap.add_argument("--pg-faults", action="store_true",
                    help="the daemons' PostgreSQL connections through a proxy that refuses and resets them")
    return run_rig(Chaos, ap.parse_args())


def run_rig(rig_class, args, say=None):
    """main()'s tail for the chaos run and the soak: SIGTERM and SIGINT stop the run through its finally
    blocks (stop_on_signals), rig_class(args).run() is timed and its results written to args.out (its
    write(out, started, wall)). Returns run()'s exit status, or 2 when the rig itself failed (said through
    `say`, default this module's log)."""
    stop_on_signals()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.monotonic()
    rig = rig_class(args)
    try:
        code = rig.run()
    except Exception as e:  # noqa: BLE001 - report any failure of the rig as exit 2
        (say or log)("error: %s" % e)
        return 2
    rig.write(args.out, started, time.monotonic() - t0)
    return code


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""ctest smtp_bench_test: engine_bench_tool's SMTP sink and bare client (bench/smtp_bench.h), which the
outbound benchmark trusts to count what arrived. No servers: a sink on a free port of 127.0.0.1, stopped
by pid. Checks pipelined commands answered in order, out-of-order commands refused, dot-unstuffing, a data
line longer than the sink holds, and the client's messages counted with exactly their bytes.

usage: smtp_bench_test.py ENGINE_BENCH_TOOL
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOOL = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="smtp_bench_test.")


def start_sink():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    count_file = os.path.join(WORK, "count.%d.json" % port)
    p = subprocess.Popen([TOOL, "sink", "--port", str(port), "--count-file", count_file])
    deadline = time.monotonic() + 30
    while True:  # ready when its port accepts
        assert p.poll() is None, "the sink exited %d" % p.returncode
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return p, port, count_file
        except OSError:
            assert time.monotonic() < deadline, "the sink never accepted on port %d" % port
            time.sleep(0.01)


def stop_sink(sink):
    p, _, count_file = sink
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, "the sink exited %d" % p.returncode
    with open(count_file) as f:
        return json.load(f)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.f = self.sock.makefile("rb")

    def replies(self, n):
        """The codes of the next n replies."""
        codes = []
        for _ in range(n):
            while True:
                line = self.f.readline()
                assert line.endswith(b"\r\n"), line
                if line[3:4] != b"-":
                    codes.append(int(line[:3]))
                    break
        return codes


def check(what, got, want):
    if got != want:
        print("FAILED: %s: got %r, want %r" % (what, got, want))
        sys.exit(1)


def by_hand():
    sink = start_sink()
    try:
        c = Client(sink[1])
        check("greeting", c.replies(1), [220])
        c.sock.sendall(b"EHLO test\r\n")
        check("EHLO", c.replies(1), [250])
        # One write: a transaction, its data (a stuffed line, a line that is only "..") and the next one.
        first = b"Subject: a\r\n\r\n..hidden\r\n..\r\nend\r\n"
        unstuffed = b"Subject: a\r\n\r\n.hidden\r\n.\r\nend\r\n"
        c.sock.sendall(b"MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n")
        check("pipelined MAIL, RCPT, DATA", c.replies(3), [250, 250, 354])
        c.sock.sendall(first + b".\r\n")
        check("end of data", c.replies(1), [250])
        # Out of order: RCPT and DATA without MAIL; then RSET, NOOP and a transaction in lower case.
        c.sock.sendall(b"RCPT TO:<b@test>\r\nDATA\r\nRSET\r\nNOOP\r\nmail from:<a@test>\r\nrcpt to:<b@test>\r\n"
                       b"data\r\n")
        check("pipelined commands in order", c.replies(7), [503, 503, 250, 250, 250, 250, 354])
        long_line = b"x" * 3000000 + b"\r\n"  # longer than the sink holds whole
        c.sock.sendall(long_line + b".\r\n")
        check("end of a long line's data", c.replies(1), [250])
        c.sock.sendall(b"QUIT\r\n")
        check("QUIT", c.replies(1), [221])
        c.sock.close()
    finally:
        counts = stop_sink(sink)
    check("messages counted", counts["messages"], 2)
    check("bytes counted", counts["bytes"], len(unstuffed) + len(long_line))


def client():
    messages = [b"Subject: b\r\n\r\n.dot\r\n..\r\nx\r\n.\r\n", b"Subject: c\r\n\r\n" + b"y" * 200000 + b"\r\n",
                b"Subject: d\r\n\r\nno final line end\r\n.z"]
    path = os.path.join(WORK, "messages")
    with open(path, "wb") as f:
        for i, m in enumerate(messages):
            f.write(b"u%d@test %d\n" % (i, len(m)) + m)
    sink = start_sink()
    try:
        out = subprocess.run([TOOL, "send", "--port", str(sink[1]), "--from", "a@test", "--messages-file", path],
                             capture_output=True, text=True)
    finally:
        counts = stop_sink(sink)
    check("send's exit status (stderr: %s)" % out.stderr.strip(), out.returncode, 0)
    sent = json.loads(out.stdout)
    check("messages sent", sent["messages"], len(messages))
    check("pipelining", sent["pipelining"], True)
    check("messages counted", counts["messages"], len(messages))
    # A message without a final CRLF gets one, as from the daemon.
    check("bytes counted", counts["bytes"], sum(len(m) + (0 if m.endswith(b"\r\n") else 2) for m in messages))


try:
    by_hand()
    client()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
print("smtp_bench_test: ok")

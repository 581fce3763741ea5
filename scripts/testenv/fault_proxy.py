#!/usr/bin/python3
"""A TCP fault proxy for mailforum's tests (issue 13): put it between the
daemon and Dovecot, PostgreSQL or the SMTP server and break the path on
command.

It listens on 127.0.0.1 (a free port unless --port) and forwards every
connection to --target HOST:PORT. A control port takes one command per line
and answers one line, "ok ..." or "error ...":

  latency MS       delay every chunk by MS milliseconds (both directions)
  stall            accept bytes, forward nothing, both directions; `heal`
                   forwards what was held (a server that stops mid-response)
  blackhole        the open connections, and those accepted until `heal`, go
                   silent for ever in both directions: bytes are read and
                   dropped, the sockets stay open (the half-open NAT case);
                   `heal` does not revive them
  reset            reset every open connection now (SO_LINGER 0, then close:
                   an RST to both ends)
  reset-after N    reset a connection once N more bytes came from the server
                   (the N bytes are forwarded first): cuts a FETCH literal or
                   a DATA reply mid-stream; applies to open and new
                   connections until `heal`
  reset-after-up N the same for bytes from the client: cuts the mail a
                   client is sending (DATA) or a query mid-stream
  refuse           new connections are closed at once with an RST
  heal             back to normal (latency 0, stalled bytes forwarded)
  stats            "ok open=N total=M up=U down=D resets=R refused=F mode=..."
                   (connections open now and accepted so far; bytes forwarded
                   to the server and to the clients so far; connections reset
                   by `reset` or a budget, and refused, so far)

On start it prints "fault_proxy listen=PORT control=PORT" on stdout and, with
--ports-file, writes "listen PORT\\ncontrol PORT\\n" there (atomically, by a
rename), so a test waits for the file instead of sleeping.

As a client, for scripts: fault_proxy.py --send CONTROL_PORT COMMAND...
sends each command and prints each answer (exit status 1 on "error").

usage: fault_proxy.py --target HOST:PORT [--port N] [--ports-file F] [--pidfile F]
"""
import argparse
import asyncio
import os
import socket
import struct
import sys


class Connection:
    """One proxied connection: the client's socket and ours to the target."""

    def __init__(self, proxy, client_reader, client_writer):
        self.proxy = proxy
        self.client_reader = client_reader
        self.client_writer = client_writer
        self.server_writer = None
        self.blackholed = False
        self.reset_budget = None  # bytes from the server still allowed before a reset
        self.reset_budget_up = None  # bytes from the client still allowed before a reset
        self.held = {"up": [], "down": []}  # stalled chunks per direction
        self.closed = False

    def reset(self):
        """Closes both sockets with an RST (SO_LINGER on, timeout 0)."""
        if self.closed:
            return
        self.closed = True
        self.proxy.resets += 1
        for writer in (self.client_writer, self.server_writer):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            writer.transport.abort()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.server_writer):
            if writer is not None:
                writer.close()

    async def pump(self, reader, writer, direction):
        try:
            while not self.closed:
                data = await reader.read(65536)
                if not data:
                    break
                if self.blackholed:
                    continue
                if self.proxy.latency_ms:
                    await asyncio.sleep(self.proxy.latency_ms / 1000)
                if self.closed:
                    break
                if self.proxy.stalled:
                    self.held[direction].append(data)
                    continue
                budget = self.reset_budget if direction == "down" else self.reset_budget_up
                if budget is not None:
                    if len(data) >= budget:
                        writer.write(data[:budget])
                        self.proxy.forwarded[direction] += budget
                        await writer.drain()
                        self.reset()
                        break
                    if direction == "down":
                        self.reset_budget -= len(data)
                    else:
                        self.reset_budget_up -= len(data)
                writer.write(data)
                self.proxy.forwarded[direction] += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        if self.blackholed and direction == "down":
            return  # the server's end never reaches the client of a black hole
        self.close()  # (the client's own end closes both: nothing is left to observe)

    def flush(self):
        """Forwards what a stall held back."""
        for direction, writer in (("up", self.server_writer), ("down", self.client_writer)):
            for data in self.held[direction]:
                if not self.closed and writer is not None:
                    writer.write(data)
                    self.proxy.forwarded[direction] += len(data)
            self.held[direction].clear()


class Proxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.connections = set()
        self.total = 0
        self.forwarded = {"up": 0, "down": 0}
        self.latency_ms = 0
        self.stalled = False
        self.blackhole = False
        self.refusing = False
        self.reset_after = None
        self.reset_after_up = None
        self.resets = 0
        self.refused = 0

    def mode(self):
        modes = [name for name, on in (("stall", self.stalled), ("blackhole", self.blackhole),
                                       ("refuse", self.refusing)) if on]
        if self.latency_ms:
            modes.append("latency:%d" % self.latency_ms)
        if self.reset_after is not None:
            modes.append("reset-after:%d" % self.reset_after)
        if self.reset_after_up is not None:
            modes.append("reset-after-up:%d" % self.reset_after_up)
        return ",".join(modes) or "normal"

    async def handle_client(self, reader, writer):
        self.total += 1
        if self.refusing:
            conn = Connection(self, reader, writer)
            conn.reset()
            self.resets -= 1  # counted as refused, not as a reset
            self.refused += 1
            return
        conn = Connection(self, reader, writer)
        conn.blackholed = self.blackhole
        conn.reset_budget = self.reset_after
        conn.reset_budget_up = self.reset_after_up
        self.connections.add(conn)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.connections.discard(conn)
            conn.reset()
            return
        conn.server_writer = server_writer
        try:
            await asyncio.gather(conn.pump(reader, server_writer, "up"),
                                 conn.pump(server_reader, writer, "down"))
        finally:
            if not conn.blackholed:
                conn.close()
            self.connections.discard(conn)

    def command(self, line):
        words = line.split()
        if not words:
            return "error empty command"
        name, args = words[0].lower(), words[1:]
        try:
            if name == "latency" and len(args) == 1:
                self.latency_ms = max(0, int(args[0]))
            elif name == "stall" and not args:
                self.stalled = True
            elif name == "blackhole" and not args:
                self.blackhole = True
                for conn in self.connections:
                    conn.blackholed = True
            elif name == "reset" and not args:
                for conn in list(self.connections):
                    conn.reset()
            elif name == "reset-after" and len(args) == 1:
                self.reset_after = max(0, int(args[0]))
                for conn in self.connections:
                    conn.reset_budget = self.reset_after
            elif name == "reset-after-up" and len(args) == 1:
                self.reset_after_up = max(0, int(args[0]))
                for conn in self.connections:
                    conn.reset_budget_up = self.reset_after_up
            elif name == "refuse" and not args:
                self.refusing = True
            elif name == "heal" and not args:
                self.latency_ms = 0
                self.stalled = False
                self.blackhole = False
                self.refusing = False
                self.reset_after = None
                self.reset_after_up = None
                for conn in self.connections:
                    conn.reset_budget = None
                    conn.reset_budget_up = None
                    conn.flush()
            elif name == "stats" and not args:
                pass
            else:
                return "error unknown command or wrong arguments: " + line.strip()
        except ValueError:
            return "error not a number: " + line.strip()
        return "ok open=%d total=%d up=%d down=%d resets=%d refused=%d mode=%s" % (
            len(self.connections), self.total, self.forwarded["up"], self.forwarded["down"], self.resets,
            self.refused, self.mode())

    async def handle_control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write((self.command(line.decode("utf-8", "replace")) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def serve(args):
    host, _, port = args.target.rpartition(":")
    proxy = Proxy(host or "127.0.0.1", int(port))
    listener = await asyncio.start_server(proxy.handle_client, "127.0.0.1", args.port)
    control = await asyncio.start_server(proxy.handle_control, "127.0.0.1", args.control_port)
    listen_port = listener.sockets[0].getsockname()[1]
    control_port = control.sockets[0].getsockname()[1]
    if args.pidfile:
        write_atomically(args.pidfile, "%d\n" % os.getpid())
    if args.ports_file:
        write_atomically(args.ports_file, "listen %d\ncontrol %d\n" % (listen_port, control_port))
    print("fault_proxy listen=%d control=%d target=%s" % (listen_port, control_port, args.target), flush=True)
    async with listener, control:
        await asyncio.gather(listener.serve_forever(), control.serve_forever())


def send(port, commands):
    status = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        f = sock.makefile("rwb")
        for command in commands:
            f.write((command + "\n").encode())
            f.flush()
            answer = f.readline().decode().strip()
            print(answer)
            if not answer.startswith("ok"):
                status = 1
    return status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="listening port (0: a free one)")
    parser.add_argument("--control-port", type=int, default=0, help="control port (0: a free one)")
    parser.add_argument("--ports-file")
    parser.add_argument("--pidfile")
    parser.add_argument("--send", type=int, metavar="CONTROL_PORT", help="send COMMANDs to a running proxy")
    parser.add_argument("commands", nargs="*", metavar="COMMAND")
    args = parser.parse_args()
    if args.send:
        sys.exit(send(args.send, args.commands))
    if not args.target:
        parser.error("--target is required")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

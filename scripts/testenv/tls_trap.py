#!/usr/bin/python3
"""A TLS server whose certificate names another host (wrong.invalid).

Clients must refuse it after the handshake. If one does not, it would go on
talking: the trap plays a minimal IMAP server (greeting, CAPABILITY, OK to any
tagged command) and appends every decrypted byte it receives to --log, so a
test can prove that no LOGIN was ever sent.
"""
import argparse
import os
import signal
import socket
import ssl
import sys
import threading


def serve(conn, ctx, log_path):
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(30)
            tls.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] trap ready\r\n")
            buf = b""
            while True:
                data = tls.recv(65536)
                if not data:
                    return
                with open(log_path, "ab") as f:
                    f.write(data)
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    tag = line.split(b" ", 1)[0]
                    if b"CAPABILITY" in line.upper():
                        tls.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
                    tls.sendall(tag + b" OK done\r\n")
    except (OSError, ssl.SSLError):
        return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile", required=True)
    args = ap.parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    open(args.log, "ab").close()
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(args.pidfile + ".tmp", args.pidfile)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, ctx, args.log), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

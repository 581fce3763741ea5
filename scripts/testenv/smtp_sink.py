#!/usr/bin/python3
"""SMTP sink for mailforum's tests: stores every received message byte-exact.

Each accepted message is written to SPOOL/tmp/ and renamed into SPOOL/new/
(an atomic "a new file appeared" for tests); its envelope (mail_from,
rcpt_tos, peer, tls) is written first as NAME.json. Listens on a plain port
that offers STARTTLS and on an implicit-TLS port; offers AUTH PLAIN/LOGIN (any
user name, the password from --password) and SMTPUTF8.

Fault injection, for retry and bounce tests:
  * a recipient whose local part starts with "reject550" is refused with 550,
    one starting with "defer451" with 451;
  * a recipient whose local part starts with "flaky<N>-" (e.g.
    flaky3-alice@example.com) is refused with 451 the first N times it is
    given in RCPT TO, then accepted; SPOOL/control/flaky/<address> counts the
    tries so far (delete it to start again);
  * if SPOOL/control/data_reply exists, its first line (e.g. "451 4.3.0 try
    later") is the answer to DATA and the message is not stored.
"""
import argparse
import asyncio
import json
import os
import re
import ssl
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


FLAKY = re.compile(r"flaky(\d+)-")


class SinkHandler:
    def __init__(self, spool):
        self.spool = spool
        for sub in ("tmp", "new", "control", os.path.join("control", "flaky")):
            os.makedirs(os.path.join(spool, sub), exist_ok=True)

    def flaky_try(self, address):
        """Counts one more RCPT TO of `address`; returns how many there were."""
        path = os.path.join(self.spool, "control", "flaky", address.lower().replace("/", "_"))
        try:
            with open(path) as f:
                tries = int(f.read().strip() or "0")
        except FileNotFoundError:
            tries = 0
        tries += 1
        with open(path + ".tmp", "w") as f:
            f.write(str(tries))
        os.rename(path + ".tmp", path)
        return tries

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject550"):
            return "550 5.1.1 <%s>: recipient rejected by test sink" % address
        if local.startswith("defer451"):
            return "451 4.3.0 <%s>: deferred by test sink" % address
        flaky = FLAKY.match(local)
        if flaky and self.flaky_try(address) <= int(flaky.group(1)):
            return "451 4.3.0 <%s>: deferred for a while by test sink" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        control = os.path.join(self.spool, "control", "data_reply")
        if os.path.exists(control):
            with open(control) as f:
                reply = f.readline().strip()
            if reply:
                return reply
        name = "%d.%s" % (time.time_ns(), uuid.uuid4().hex[:12])
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": list(session.peer) if session.peer else None,
            # session.ssl is set only after STARTTLS; on the implicit-TLS port the transport says it.
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "size": len(envelope.original_content),
        }
        tmp = os.path.join(self.spool, "tmp", name)
        with open(tmp + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(tmp + ".json", os.path.join(self.spool, "new", name + ".json"))
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.spool, "new", name))
        return "250 2.0.0 Ok: queued as " + name


def make_authenticator(password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.password.decode() == password:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
    return authenticate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--pidfile", required=True)
    args = ap.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    handler = SinkHandler(args.spool)
    common = dict(
        hostname=args.host,
        authenticator=make_authenticator(args.password),
        auth_require_tls=False,
        decode_data=False,
        enable_SMTPUTF8=True,
        data_size_limit=64 * 1024 * 1024,
    )
    plain = Controller(handler, port=args.port, tls_context=ctx, require_starttls=False, **common)
    implicit = Controller(handler, port=args.tls_port, ssl_context=ctx, **common)
    plain.start()
    implicit.start()
    # The pid file is written after both ports are bound: it is the readiness signal.
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(args.pidfile + ".tmp", args.pidfile)
    try:
        import signal
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        plain.stop()
        implicit.stop()
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    sys.exit(main())

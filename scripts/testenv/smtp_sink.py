#!/usr/bin/python3
"""SMTP sink for mailforum's tests: stores every received message byte-exact.

Each accepted message is written to SPOOL/tmp/ and renamed into SPOOL/new/
(an atomic "a new file appeared" for tests); its envelope (mail_from,
rcpt_tos, peer, tls) is written first as NAME.json. Listens on a plain port
that offers STARTTLS and on an implicit-TLS port; offers AUTH PLAIN/LOGIN (any
user name, the password from --password) and SMTPUTF8. With --oauth2-url it
also offers AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) and checks them as a real
server does: the token must be active at the test OAuth2 endpoint's
/introspect and belong to the user named in the exchange; a refused token gets
the error challenge (334 and a JSON status), which the client must acknowledge
(an empty line for XOAUTH2, %x01 for OAUTHBEARER) before the final 535. Each
OAuth2 exchange is one line "MECHANISM USER ok|refused|bad-ack" in
SPOOL/control/oauth2.log; an accepted message's envelope file says how its
session logged in ("auth": [mechanism, user]).

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
import base64
import binascii
import json
import os
import re
import ssl
import sys
import time
import urllib.parse
import urllib.request
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword


FLAKY = re.compile(r"flaky(\d+)-")


def parse_oauth2(mechanism, raw):
    """(user, token) from an XOAUTH2 or OAUTHBEARER initial response, or None."""
    fields = raw.split(b"\x01")
    user = None
    if mechanism == "OAUTHBEARER":
        gs2 = fields[0].split(b",")
        if len(gs2) < 3 or gs2[0] != b"n" or not gs2[1].startswith(b"a="):
            return None
        user = gs2[1][2:].replace(b"=2C", b",").replace(b"=3D", b"=")
        fields = fields[1:]
    token = None
    for field in fields:
        if field.startswith(b"user=") and mechanism == "XOAUTH2":
            user = field[5:]
        elif field.startswith(b"auth=Bearer "):
            token = field[12:]
    if not user or not token or not raw.endswith(b"\x01\x01"):
        return None
    return user.decode(), token.decode()


class SinkHandler:
    def __init__(self, spool, oauth2_url=None):
        self.spool = spool
        self.oauth2_url = oauth2_url
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

    def note_oauth2(self, line):
        with open(os.path.join(self.spool, "control", "oauth2.log"), "a") as f:
            f.write(line + "\n")

    def introspect(self, token):
        data = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.oauth2_url + "/introspect", data=data, timeout=10) as r:
            return json.loads(r.read().decode())

    async def oauth2(self, server, mechanism, args):
        if len(args) > 1:
            raw = args[1].encode()
        else:
            raw = await server.challenge_auth("", encode_to_b64=False)
            if raw is MISSING:  # cancelled or not base64: challenge_auth has answered
                return AuthResult(success=False, handled=True)
        try:
            response = base64.b64decode(raw, validate=True) if len(args) > 1 else raw
        except binascii.Error:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode the initial response")
        parsed = parse_oauth2(mechanism, response)
        if parsed is None:
            self.note_oauth2("%s ? malformed" % mechanism)
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed %s response" % mechanism)
        user, token = parsed
        answer = await asyncio.get_running_loop().run_in_executor(None, self.introspect, token)
        if answer.get("active") is True and answer.get("username") == user:
            self.note_oauth2("%s %s ok" % (mechanism, user))
            return AuthResult(success=True, auth_data=[mechanism, user])
        # The error challenge, as Gmail and Microsoft send it; the client must acknowledge it.
        status = json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"}).encode()
        ack = await server.challenge_auth(status)
        if ack is MISSING:
            self.note_oauth2("%s %s bad-ack" % (mechanism, user))
            return AuthResult(success=False, handled=True)
        expected = b"\x01" if mechanism == "OAUTHBEARER" else b""
        if ack != expected:
            self.note_oauth2("%s %s bad-ack" % (mechanism, user))
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad acknowledgment of the error challenge")
        self.note_oauth2("%s %s refused" % (mechanism, user))
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and token not accepted")

    async def auth_XOAUTH2(self, server, args):
        return await self.oauth2(server, "XOAUTH2", args)

    async def auth_OAUTHBEARER(self, server, args):
        return await self.oauth2(server, "OAUTHBEARER", args)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd's new-style hook: the hook names the session's host and may add to the reply.
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

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
            "auth": session.auth_data if isinstance(session.auth_data, list) else None,
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
    ap.add_argument("--oauth2-url", help="the test OAuth2 endpoint: offer XOAUTH2 and OAUTHBEARER")
    args = ap.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    handler = SinkHandler(args.spool, args.oauth2_url)
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

#!/usr/bin/env python3
"""A small OAuth2 token and introspection endpoint for the tests (127.0.0.1 only).

POST /token       RFC 6749: grant_type=refresh_token (the refresh token rotates:
                  each answer carries a new one and the old one stops working) or
                  client_credentials (a client made by /control/client); access
                  tokens live --lifetime seconds, or the lifetime of their grant.
POST /introspect  RFC 7662 (Dovecot's oauth2 passdb): token=... ->
                  {"active": true, "username": ...} or {"active": false}.
Test control (form posts, JSON answers):
POST /control/grant   user=U [lifetime=S] -> {"refresh_token": ...} (as a user's consent would;
                      the access tokens it and its successors get live S seconds)
POST /control/client  user=U -> {"client_id": ..., "client_secret": ...}
POST /control/expire  user=U    every access token of U stops working
POST /control/revoke  user=U    every refresh token of U is revoked
GET  /control/stats?user=U -> {"issued": N, "introspected": N}
Every public client uses client_id "mailforum-test" and the secret of --client-secret.
"""
import argparse
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
REFRESH = {}   # refresh token -> (user, lifetime of its access tokens)
ACCESS = {}    # access token -> (user, expiry)
CLIENTS = {}   # client id -> (secret, user)
STATS = {}     # user -> {"issued": n, "introspected": n}


def stat(user, key):
    STATS.setdefault(user, {"issued": 0, "introspected": 0})[key] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # the log holds no tokens: paths only
        sys.stdout.write("%s %s\n" % (self.command, self.path.split("?")[0]))
        sys.stdout.flush()

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

    def issue(self, user, lifetime):
        token = "at-" + secrets.token_urlsafe(24)
        ACCESS[token] = (user, time.time() + lifetime)
        stat(user, "issued")
        return token

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/control/stats":
            user = parse_qs(url.query).get("user", [""])[0]
            with LOCK:
                return self.answer(200, STATS.get(user, {"issued": 0, "introspected": 0}))
        self.answer(404, {"error": "not_found"})

    def do_POST(self):
        f = self.form()
        path = urlparse(self.path).path
        with LOCK:
            if path == "/token":
                return self.token(f)
            if path == "/introspect":
                user, expiry = ACCESS.get(f.get("token", ""), ("", 0))
                if user:
                    stat(user, "introspected")
                if not user or expiry < time.time():
                    return self.answer(200, {"active": False})
                return self.answer(200, {"active": True, "username": user, "exp": int(expiry)})
            user = f.get("user", "")
            if path == "/control/grant":
                token = "rt-" + secrets.token_urlsafe(24)
                REFRESH[token] = (user, int(f.get("lifetime") or ARGS.lifetime))
                return self.answer(200, {"refresh_token": token})
            if path == "/control/client":
                cid, secret = "svc-" + secrets.token_hex(4), secrets.token_urlsafe(12)
                CLIENTS[cid] = (secret, user)
                return self.answer(200, {"client_id": cid, "client_secret": secret})
            if path == "/control/expire":
                for token, (u, _) in list(ACCESS.items()):
                    if u == user:
                        ACCESS[token] = (u, 0)
                return self.answer(200, {})
            if path == "/control/revoke":
                for token, (u, _) in list(REFRESH.items()):
                    if u == user:
                        del REFRESH[token]
                return self.answer(200, {})
        self.answer(404, {"error": "not_found"})

    def token(self, f):
        grant = f.get("grant_type")
        cid = f.get("client_id", "")
        if grant == "client_credentials":
            secret, user = CLIENTS.get(cid, (None, ""))
            if secret is None or f.get("client_secret") != secret:
                return self.answer(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
            return self.answer(200, {"access_token": self.issue(user, ARGS.lifetime), "token_type": "Bearer",
                                     "expires_in": ARGS.lifetime})
        if cid != "mailforum-test" or f.get("client_secret") != ARGS.client_secret:
            return self.answer(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
        if grant != "refresh_token":
            return self.answer(400, {"error": "unsupported_grant_type"})
        user, lifetime = REFRESH.pop(f.get("refresh_token", ""), (None, 0))
        if user is None:
            return self.answer(400, {"error": "invalid_grant",
                                     "error_description": "the refresh token is revoked or unknown"})
        rotated = "rt-" + secrets.token_urlsafe(24)
        REFRESH[rotated] = (user, lifetime)
        return self.answer(200, {"access_token": self.issue(user, lifetime), "token_type": "Bearer",
                                 "expires_in": lifetime, "refresh_token": rotated})


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--lifetime", type=int, default=3600)
    p.add_argument("--pidfile", required=True)
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    with open(ARGS.pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(ARGS.pidfile + ".tmp", ARGS.pidfile)
    server.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A token issuer for the registry's `auth: token` mode, as Docker Hub's auth service works.

Usage: token_server.py PORTFILE KEY CERT USERS
Serves GET /token?service=..&scope=.. (Basic auth) and POST /token (refresh_token grant) on a
free loopback port, written to PORTFILE. USERS is "user:password,..."; a known user gets every
action asked for; anonymous requests get "pull" on repositories under "public/" only.
Tokens are JWTs signed RS256 with KEY, carrying CERT in "x5c" (the registry trusts CERT).
"""
import base64
import json
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, KEY, CERT, USERS = sys.argv[1:5]
users = dict(u.split(":", 1) for u in USERS.split(",") if u)
refresh_tokens = {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64():
    der = subprocess.run(["openssl", "x509", "-in", CERT, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


X5C = cert_der_b64()


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY],
                         input=signing_input.encode(), check=True,
                         capture_output=True).stdout
    return signing_input + "." + b64url(sig)


def grant(user, service, scopes):
    access = []
    for scope in scopes:
        for one in scope.split(" "):
            parts = one.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            if user is None:
                actions = [a for a in actions if a == "pull" and name.startswith("public/")]
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
    now = int(time.time())
    claims = {"iss": "kiln-test-issuer", "sub": user or "", "aud": service,
              "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": str(time.time_ns()), "access": access}
    return sign(claims)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def basic_user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, True
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if users.get(user) != password:
            return None, False
        return user, True

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/token":
            return self.reply(404, {"error": "not found"})
        q = urllib.parse.parse_qs(url.query)
        user, ok = self.basic_user()
        if not ok:
            return self.reply(401, {"details": "incorrect username or password"})
        token = grant(user, q.get("service", [""])[0], q.get("scope", []))
        body = {"token": token, "access_token": token, "expires_in": 300}
        if user and q.get("offline_token", [""])[0] == "true":
            rt = "rt-" + str(time.time_ns())
            refresh_tokens[rt] = user
            body["refresh_token"] = rt
        self.reply(200, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if form.get("grant_type", [""])[0] != "refresh_token":
            return self.reply(400, {"error": "unsupported_grant_type"})
        user = refresh_tokens.get(form.get("refresh_token", [""])[0])
        if user is None:
            return self.reply(401, {"error": "invalid_grant"})
        token = grant(user, form.get("service", [""])[0], form.get("scope", []))
        self.reply(200, {"access_token": token, "expires_in": 300})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()

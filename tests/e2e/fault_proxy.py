#!/usr/bin/python3
"""An HTTP proxy in front of a registry that injects the faults registries and networks show.

Usage: fault_proxy.py PORTFILE UPSTREAM_PORT MODE
MODE is one of:
  reset-body   the first GET of each blob sends half its bytes, then the connection drops
  throttle     the first request of each path is answered 429 (Retry-After: 1), the second 503
  reset-upload the second PATCH of each upload drops the connection before forwarding
  corrupt      every GET of a blob larger than 1000 bytes has one byte flipped
  paginate     tag lists are served n at a time with a Link to the next page (as registries
               that paginate do), whatever the upstream does
  redirect     blob GETs are answered 307 to http://localhost:<port>/__redirect/...: another
               host, as object storage is; such requests that carry Authorization are logged
               as "leak", and are forwarded with the credentials last seen
  referrers    the distribution spec 1.1 referrers API the upstream lacks: a manifest PUT whose
               body has a "subject" is answered with OCI-Subject and remembered, and
               GET /v2/<name>/referrers/<digest>[?artifactType=] lists what refers to it
The chosen port is written to PORTFILE. Counters are printed on stderr at each fault.
"""
import http.client
import json
import urllib.parse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, UPSTREAM, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
referrers = {}  # (repository, subject digest) -> [descriptor]
last_auth = None
seen = {}


def count(key):
    with lock:
        seen[key] = seen.get(key, 0) + 1
        return seen[key]


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def fault(self, what):
        sys.stderr.write("fault: %s %s %s\n" % (what, self.command, self.path))

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def forward(self):
        global last_auth
        path = self.path
        length = int(self.headers.get("Content-Length", "0") or "0")
        is_blob_get = self.command == "GET" and "/blobs/sha256:" in path
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        if MODE == "redirect":
            if path.startswith("/__redirect/"):
                if "Authorization" in self.headers:
                    self.fault("leak")
                path = path[len("/__redirect"):]
                if last_auth:
                    headers["Authorization"] = last_auth
            elif is_blob_get:
                last_auth = self.headers.get("Authorization")
                self.fault("redirect")
                self.send_response(307)
                self.send_header("Location", "http://localhost:%d/__redirect%s" %
                                 (self.server.server_address[1], path))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if MODE == "throttle" and "/v2/" in path and path != "/v2/":
            n = count(self.command + path)
            if n <= 2:
                self.fault("throttle")
                self.rfile.read(length)
                self.send_response(429 if n == 1 else 503)
                if n == 1:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if MODE == "reset-upload" and self.command == "PATCH":
            upload = path.split("/uploads/")[1].split("?")[0]
            if count("patch " + upload.split("/")[0]) == 2:
                self.fault("reset-upload")
                self.rfile.read(min(length, 1000))
                return self.drop()
        if MODE == "paginate" and "/tags/list" in path:
            return self.paginate(path, headers)
        if MODE == "referrers" and self.command == "GET" and "/referrers/" in path:
            return self.list_referrers(path)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read() if self.command != "HEAD" else b""
        if MODE == "corrupt" and is_blob_get and resp.status in (200, 206) and len(data) > 1000:
            self.fault("corrupt")
            data = data[:500] + bytes([data[500] ^ 0xFF]) + data[501:]
        truncate = (MODE == "reset-body" and is_blob_get and resp.status == 200 and
                    len(data) > 1000 and count("get " + path) == 1)
        subject = None
        if (MODE == "referrers" and self.command == "PUT" and "/manifests/" in path and
                resp.status == 201 and body):
            subject = self.remember_referrer(path, body, resp.getheader("Docker-Content-Digest"))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding"):
                self.send_header(k, v)
        if subject:
            self.send_header("OCI-Subject", subject)
        self.end_headers()
        if truncate:
            self.fault("reset-body")
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self.drop()
        self.wfile.write(data)

    def remember_referrer(self, path, body, digest):
        doc = json.loads(body)
        if "subject" not in doc:
            return None
        repo = path[len("/v2/"):].split("/manifests/")[0]
        entry = {"mediaType": doc.get("mediaType"), "digest": digest, "size": len(body),
                 "artifactType": doc.get("artifactType") or doc["config"]["mediaType"]}
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        with lock:
            referrers.setdefault((repo, doc["subject"]["digest"]), []).append(entry)
        self.fault("referrers-put")
        return doc["subject"]["digest"]

    def list_referrers(self, path):
        url = urllib.parse.urlparse(path)
        repo, digest = url.path[len("/v2/"):].split("/referrers/")
        want = urllib.parse.parse_qs(url.query).get("artifactType", [None])[0]
        with lock:
            found = [e for e in referrers.get((repo, digest), [])
                     if want is None or e["artifactType"] == want]
        data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": found}).encode()
        self.fault("referrers-get")
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
        if want is not None:
            self.send_header("OCI-Filters-Applied", "artifactType")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def paginate(self, path, headers):
        url = urllib.parse.urlparse(path)
        q = urllib.parse.parse_qs(url.query)
        n, last = int(q.get("n", ["100"])[0]), q.get("last", [""])[0]
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        conn.request("GET", url.path, headers=headers)
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        tags = sorted(doc.get("tags") or [])
        rest = [t for t in tags if t > last]
        doc["tags"] = rest[:n]
        data = json.dumps(doc).encode()
        self.fault("page")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if len(rest) > n:
            self.send_header("Link", '<%s?n=%d&last=%s>; rel="next"' %
                             (url.path, n, urllib.parse.quote(rest[n - 1])))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()

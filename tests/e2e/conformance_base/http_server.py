#!/usr/bin/env python3
"""Serves a directory to ADD <url> cases: GET and HEAD, with Last-Modified (the file's mtime)
and an ETag; "/" serves the file named _root. Usage: http_server.py DIR PORT_FILE"""
import email.utils
import hashlib
import http.server
import os
import sys

root, port_file = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def _file(self):
        name = self.path.split('?', 1)[0].lstrip('/') or '_root'
        path = os.path.realpath(os.path.join(root, name))
        if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
            return None
        return path

    def _headers(self, path):
        with open(path, 'rb') as f:
            data = f.read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Last-Modified', email.utils.formatdate(os.stat(path).st_mtime, usegmt=True))
        self.send_header('ETag', '"%s"' % hashlib.sha256(data).hexdigest()[:16])
        self.end_headers()
        return data

    def do_HEAD(self):
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self._headers(path)

    def do_GET(self):
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self.wfile.write(self._headers(path))

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + '.tmp', port_file)
server.serve_forever()

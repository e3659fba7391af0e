"""A stand-in for the proxy that only records who calls it: every request's method, path
and credentials, one JSON line each in the file named by argv[1], answered 401 so the
client gives up. Binds port 0 and prints the port on its first line once listening."""

import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        with open(sys.argv[1], "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "x-api-key": self.headers.get("x-api-key"),
                "authorization": self.headers.get("authorization"),
            }) + "\n")
        body = b'{"type":"error","error":{"type":"authentication_error","message":"stub"}}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _record
    do_POST = _record

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

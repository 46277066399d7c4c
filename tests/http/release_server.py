#!/usr/bin/env python3
"""A local stand-in for GitHub's releases API, for `flashline firmware fetch` tests.

Serves a RECORDED release listing (tests/data/obk-releases/releases.json, shaped
like https://api.github.com/repos/openshwprojects/OpenBK7231T_App/releases; the
text "{server}" in it becomes this server's http://127.0.0.1:PORT) and the
asset files from --files, so no test touches the network:

  GET /releases                 the listing
  GET /releases/latest          the newest release that is no draft or prerelease
  GET /releases/tags/TAG        one release (404 if unknown)
  GET /download/TAG/NAME        the asset NAME, read from --files (a name with
                                TAG in it is looked up with --files-version
                                instead, so one set of images serves every tag)

Range requests ("bytes=N-" and "bytes=N-M") get 206 with Content-Range.
Faults, to test the client:
  --cut-after N     a download WITHOUT a Range header sends the full
                    Content-Length but only N bytes, then closes (the client
                    sees an interrupted transfer and resumes with Range)
  --wrong-digest    every asset "digest" in the listing is the SHA-256 of
                    something else
  --status CODE     every request is answered with CODE (e.g. 403, 500)
Every request is appended to --log as "GET PATH range=VALUE|-" (flushed), so
tests can assert that a resume really asked for a range.
The first line on stdout is the base URL of the releases API; nothing else is
written to stdout.
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listing", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--files-version", default="1.18.300")
    ap.add_argument("--log", required=True)
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--wrong-digest", action="store_true")
    ap.add_argument("--status", type=int, default=0)
    args = ap.parse_args()
    log_lock = threading.Lock()

    def listing(base):
        text = open(args.listing, encoding="utf-8").read().replace("{server}", base)
        releases = json.loads(text)
        if args.wrong_digest:
            bad = "sha256:" + hashlib.sha256(b"not the file").hexdigest()
            for r in releases:
                for a in r["assets"]:
                    if "digest" in a:
                        a["digest"] = bad
        return releases

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *a):  # quiet: the request log is --log
            pass

        def base(self):
            host, port = self.server.server_address[:2]
            return "http://%s:%d" % (host, port)

        def send_json(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            rng = self.headers.get("Range")
            with log_lock, open(args.log, "a") as f:
                f.write("GET %s range=%s\n" % (self.path, rng or "-"))
            if args.status:
                return self.send_json({"message": "forced status"}, args.status)
            releases = listing(self.base())
            path = self.path.split("?")[0]
            if path == "/releases":
                return self.send_json(releases)
            if path == "/releases/latest":
                for r in releases:
                    if not r["draft"] and not r["prerelease"]:
                        return self.send_json(r)
                return self.send_json({"message": "Not Found"}, 404)
            m = re.fullmatch(r"/releases/tags/([^/]+)", path)
            if m:
                for r in releases:
                    if r["tag_name"] == m.group(1):
                        return self.send_json(r)
                return self.send_json({"message": "Not Found"}, 404)
            m = re.fullmatch(r"/download/([^/]+)/([^/]+)", path)
            if m:
                return self.send_file(m.group(1), m.group(2), rng)
            return self.send_json({"message": "Not Found"}, 404)

        def send_file(self, tag, name, rng):
            fname = os.path.basename(name.replace(tag, args.files_version))
            full = os.path.join(args.files, fname)
            if not os.path.isfile(full):
                return self.send_json({"message": "Not Found"}, 404)
            data = open(full, "rb").read()
            start, end = 0, len(data) - 1
            if rng:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
                if not m or int(m.group(1)) >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % len(data))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(m.group(1))
                if m.group(2):
                    end = min(end, int(m.group(2)))
            part = data[start:end + 1]
            self.send_response(206 if rng else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(part)))
            if rng:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if args.cut_after and not rng:
                self.wfile.write(part[:args.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("http://127.0.0.1:%d/releases" % srv.server_address[1], flush=True)
    sys.stdout.close()
    srv.serve_forever()


if __name__ == "__main__":
    main()

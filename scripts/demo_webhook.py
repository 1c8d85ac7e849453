#!/usr/bin/env python3
"""demo_webhook.py — the demo's "plain HTTP endpoint" for the notification channel (issue 16):
prints one line per delivery eddy-push makes (a Debezium change event of the legacy
customer-profile table), after checking its HMAC signature. Usage: demo_webhook.py PORT SECRET"""
import hashlib, hmac, http.server, json, sys

port, secret = int(sys.argv[1]), sys.argv[2].encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ts = self.headers.get("Eddy-Timestamp", "")
        want = "v1=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(self.headers.get("Eddy-Signature", ""), want)
        if body:
            ev = json.loads(body)
            row = ev.get("after") or ev.get("before") or {}
            what = {"c": "welcome mail to", "u": "profile-changed mail to", "d": "goodbye mail to",
                    "r": "(snapshot) known customer", "t": "table truncated"}.get(ev.get("op"), "?")
            print("  webhook: %-26s %-22s tier=%-8s [%s, signature %s, lsn %s]"
                  % (what, row.get("email", "-"), row.get("tier", "-"),
                     self.headers.get("ce-partitionkey", ""), "ok" if ok else "BAD",
                     ev.get("source", {}).get("lsn")), flush=True)
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()

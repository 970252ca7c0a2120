"""A webhook receiver as a customer would write it, verifying with `standardwebhooks` (the
Standard Webhooks authors' own library, from PyPI). Tests spawn it to check our deliveries with
a verifier that is not ours; it is also functions/README.md's example, runnable.

    python receiver.py            # secret in OUTCOME_WEBHOOK_SECRET ("whsec_..." or bare base64)

Prints `listening on http://127.0.0.1:PORT` once ready (PORT from $PORT, default 0 = any free
one), then one JSON line per request: {"verified": true, "id", "type", "data"} or
{"verified": false, "error"}. Answers 204 when verified, 401 otherwise.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

webhook = Webhook(os.environ["OUTCOME_WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = webhook.verify(body, dict(self.headers))
        except Exception as e:  # WebhookVerificationError, or a body that is not JSON
            self.send_response(401)
            self.end_headers()
            print(json.dumps({"verified": False, "error": str(e)}), flush=True)
            return
        # At least once: a real receiver dedupes on webhook-id (= data.event_id) and ignores
        # an event whose data.sequence is lower than the last one it saw for that session.
        print(
            json.dumps(
                {
                    "verified": True,
                    "id": self.headers["webhook-id"],
                    "type": event["type"],
                    "data": event["data"],
                }
            ),
            flush=True,
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass  # keep stdout for the JSON lines


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Receiver)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)

"""A webhook receiver for dispute and order events that verifies every delivery.

Run it with the secret CreateWebhookSubscription showed you:

    DP_WEBHOOK_SECRET=whsec_... python -m examples.webhook_receiver --port 8080

What a receiver must do (docs/events.md):
1. Verify `Dp-Signature` over the raw body before parsing it: `t=<unix seconds>,v1=<hex>`, where
   v1 = HMAC-SHA256(secret, "<t>." + body). Refuse a timestamp more than 5 minutes away from
   your clock: a captured request replayed later is then refused.
2. Deduplicate on `event_id` (also the `Dp-Event-Id` header). Deliveries are at least once.
3. Order one dispute's (or one order's) events by `sequence`: the dispute or order is the part
   of `event_id` before the colon. They arrive in that order. Without a type filter, a gap
   means an event is still to come (the platform retries, in order); with one, the events you
   did not subscribe to leave gaps. A dispute's and an order's events are two feeds, not
   ordered against each other.
4. Answer 2xx quickly, once the event is stored. Anything else, or no answer within 10 s, is
   a failure that is retried with backoff. Past the retry window (3 days) the subscription is
   disabled until you replay it.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from platform_common.signing import TOLERANCE_S, signature_problem

SIGNATURE_HEADER = "Dp-Signature"
MAX_BODY = 1024 * 1024


@dataclass
class Delivery:
    event: dict[str, Any]
    raw: bytes
    received_at: float


@dataclass
class WebhookReceiver:
    """An HTTP server that accepts only verified deliveries; keeps each event once, in arrival order.

    `failing` makes it answer 503 to everything (a receiver that is down but reachable).
    """

    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    failing: bool = False
    tolerance_s: float = TOLERANCE_S
    events: list[Delivery] = field(default_factory=list)
    # Every POST that verified, duplicates included; and every refusal's reason.
    attempts: int = 0
    refused: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}/hooks/disputes"

    def handle(self, body: bytes, signature: str) -> tuple[int, str]:
        """The receiver's rule for one POST: (HTTP status, why)."""
        problem = signature_problem(body, signature, self.secret, time.time(), self.tolerance_s)
        if problem:
            with self._lock:
                self.refused.append(problem)
            return 400, problem
        if self.failing:
            return 503, "down"
        event = json.loads(body)
        with self._lock:
            self.attempts += 1
            if event["event_id"] not in self._seen:  # at least once: keep the first copy only
                self._seen.add(event["event_id"])
                self.events.append(Delivery(event, body, time.time()))
        return 200, "ok"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length") or ""
                if not length.isdigit() or int(length) > MAX_BODY:
                    self.send_error(413 if length.isdigit() else 411)
                    return
                body = self.rfile.read(int(length))
                code, why = receiver.handle(body, self.headers.get(SIGNATURE_HEADER, ""))
                reply = why.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    secret = os.environ.get("DP_WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        raise SystemExit("set DP_WEBHOOK_SECRET to the secret CreateWebhookSubscription returned")
    receiver = WebhookReceiver(secret, args.host, args.port).start()
    print(f"listening on {receiver.url}")
    printed = 0
    try:
        while True:
            time.sleep(0.5)
            for d in receiver.events[printed:]:
                e = d.event
                print(f"{e['event_id']:>48}  {e['type']:<32} {e.get('entry', {}).get('action', '')}")
            printed = len(receiver.events)
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()

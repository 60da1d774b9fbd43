"""`python -m refund_svc.provider.simulator`: a simulated card/wallet processor, a real process.

Its own HTTP/JSON API and its own SQLite file, like an external processor: it accepts a refund
(idempotent by key), reports it processing, and later settles or declines it, then notifies the
platform by a signed webhook (delivery retried until acknowledged); refunds can also be polled.

Behaviour is configurable by environment at start and by `POST /admin/config` at run time
(tests use it to take the provider down, slow its answers, or stop settling):
  available, settle_seconds, decline_rate, never_settle, response_delay_seconds.
A payment reference starting with "decline" is always declined (deterministic tests).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sqlite3
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from platform_common.signing import sign
from refund_svc.provider.adapter import DECLINED, PROCESSING, SIGNATURE_HEADER, SUCCEEDED

log = logging.getLogger("paysim")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
  id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE NOT NULL, request TEXT NOT NULL,
  payment_reference TEXT NOT NULL, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
  status TEXT NOT NULL, decline_reason TEXT, created_at REAL NOT NULL, settle_at REAL NOT NULL,
  settled_at REAL);
CREATE TABLE IF NOT EXISTS webhooks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, refund_id TEXT NOT NULL, payload TEXT NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL);
"""


class Simulator:
    def __init__(self, db_path: str, webhook_url: str, webhook_secret: str) -> None:
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.config: dict[str, Any] = {
            "available": True,
            "settle_seconds": float(os.environ.get("DP_PROVIDER_SETTLE_SECONDS", "5")),
            "decline_rate": float(os.environ.get("DP_PROVIDER_DECLINE_RATE", "0")),
            "never_settle": False,
            "response_delay_seconds": 0.0,
        }

    def _row(self, where: str, arg: str) -> dict[str, Any] | None:
        cur = self._db.execute(f"SELECT * FROM refunds WHERE {where} = ?", (arg,))
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row, strict=True))

    @staticmethod
    def view(row: dict[str, Any]) -> dict[str, Any]:
        settled = row["settled_at"]
        return {
            "id": row["id"],
            "idempotency_key": row["idempotency_key"],
            "status": row["status"],
            "amount_minor": row["amount_minor"],
            "currency": row["currency"],
            "payment_reference": row["payment_reference"],
            "decline_reason": row["decline_reason"] or "",
            "settled_at": datetime.fromtimestamp(settled, UTC).isoformat() if settled else "",
        }

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fields = ("idempotency_key", "payment_reference", "amount_minor", "currency")
        if any(body.get(f) in (None, "") for f in fields) or not isinstance(body["amount_minor"], int):
            return 400, {"error": f"required: {', '.join(fields)} (amount_minor an integer)"}
        if body["amount_minor"] <= 0:
            return 400, {"error": "amount_minor must be positive"}
        canonical = json.dumps({f: body[f] for f in fields}, sort_keys=True)
        with self._lock:
            existing = self._row("idempotency_key", body["idempotency_key"])
            if existing is not None:
                if existing["request"] != canonical:
                    return 409, {"error": "idempotency_key reused with a different request"}
                return 200, self.view(existing)
            now = time.time()
            self._db.execute(
                "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)",
                (
                    "re_" + uuid.uuid4().hex[:20],
                    body["idempotency_key"],
                    canonical,
                    body["payment_reference"],
                    body["amount_minor"],
                    body["currency"],
                    PROCESSING,
                    now,
                    now + float(self.config["settle_seconds"]),
                ),
            )
            created = self._row("idempotency_key", body["idempotency_key"])
        assert created is not None
        return 201, self.view(created)

    def get(self, refund_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            row = self._row("id", refund_id)
        return (404, {"error": "no such refund"}) if row is None else (200, self.view(row))

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM refunds ORDER BY created_at")
            names = [c[0] for c in cur.description]
            rows = cur.fetchall()
        return [self.view(dict(zip(names, r, strict=True))) for r in rows]

    def settle_due(self) -> None:
        if self.config["never_settle"]:
            return
        now = time.time()
        with self._lock:
            due = self._db.execute(
                "SELECT id, payment_reference FROM refunds WHERE status = ? AND settle_at <= ?",
                (PROCESSING, now),
            ).fetchall()
            for refund_id, reference in due:
                declined = reference.startswith("decline") or random.random() < self.config["decline_rate"]
                status, reason = (
                    (DECLINED, "card issuer declined the refund (account closed)")
                    if declined
                    else (SUCCEEDED, None)
                )
                self._db.execute(
                    "UPDATE refunds SET status = ?, decline_reason = ?, settled_at = ? WHERE id = ?",
                    (status, reason, now, refund_id),
                )
                row = self._row("id", refund_id)
                assert row is not None
                payload = json.dumps({"type": f"refund.{status}", "refund": self.view(row)})
                self._db.execute(
                    "INSERT INTO webhooks (refund_id, payload, next_at) VALUES (?, ?, ?)",
                    (refund_id, payload, now),
                )

    def deliver_webhooks(self) -> None:
        if not self.webhook_url:
            return
        now = time.time()
        with self._lock:
            pending = self._db.execute(
                "SELECT id, payload, attempts FROM webhooks WHERE delivered = 0 AND next_at <= ? LIMIT 20",
                (now,),
            ).fetchall()
        for hook_id, payload, attempts in pending:
            body = payload.encode()
            req = urllib.request.Request(
                self.webhook_url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    # Signed at each attempt: a retry carries a fresh timestamp.
                    SIGNATURE_HEADER: sign(body, self.webhook_secret, int(time.time())),
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    ok = 200 <= resp.status < 300
            except Exception as exc:  # any failure: retry later, as real processors do
                log.info("webhook %s failed (%s); will retry", hook_id, exc)
                ok = False
            with self._lock:
                if ok:
                    self._db.execute("UPDATE webhooks SET delivered = 1 WHERE id = ?", (hook_id,))
                else:
                    delay = min(2.0**attempts, 300.0)
                    self._db.execute(
                        "UPDATE webhooks SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                        (now + delay, hook_id),
                    )

    def background(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            try:
                self.settle_due()
                self.deliver_webhooks()
            except Exception:
                log.exception("settlement loop error")


def make_handler(sim: Simulator, api_key: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {api_key}":
                self._send(401, {"error": "invalid API key"})
                return False
            return True

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                parsed = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return {}
            return parsed if isinstance(parsed, dict) else {}

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path == "/admin/config":
                sim.config.update({k: v for k, v in self._body().items() if k in sim.config})
                self._send(200, sim.config)
            elif self.path == "/v1/refunds":
                if not sim.config["available"]:
                    self._send(503, {"error": "service temporarily unavailable"})
                    return
                code, body = sim.create(self._body())
                time.sleep(float(sim.config["response_delay_seconds"]))  # a slow network, after the write
                self._send(code, body)
            else:
                self._send(404, {"error": "not found"})

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path == "/admin/refunds":
                self._send(200, {"refunds": sim.all(), "config": sim.config})
            elif self.path.startswith("/v1/refunds/"):
                if not sim.config["available"]:
                    self._send(503, {"error": "service temporarily unavailable"})
                    return
                code, body = sim.get(self.path.removeprefix("/v1/refunds/"))
                self._send(code, body)
            else:
                self._send(404, {"error": "not found"})

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug(fmt, *args)

    return Handler


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, _, port = os.environ.get("DP_PROVIDER_LISTEN", "127.0.0.1:8650").rpartition(":")
    api_key = os.environ["DP_PROVIDER_API_KEY"]
    sim = Simulator(
        os.environ.get("DP_PROVIDER_DB", "data/paysim.db"),
        os.environ.get("DP_PROVIDER_WEBHOOK_URL", ""),
        os.environ["DP_PROVIDER_WEBHOOK_SECRET"],
    )
    stop = threading.Event()
    threading.Thread(target=sim.background, args=(stop,), daemon=True).start()
    server = ThreadingHTTPServer((host, int(port)), make_handler(sim, api_key))
    log.info("payment simulator on http://%s:%s (settle after %ss)", host, port, sim.config["settle_seconds"])
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()

"""Receives the payment provider's settlement webhooks (HMAC-signed HTTP) and relays them to
the refund's workflow. Answers 2xx only once the signal is delivered, so the provider retries
until the platform has it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from refund_svc.provider.adapter import SIGNATURE_HEADER, signature_ok
from workflows.activities.refunds_api import ProviderState

log = logging.getLogger("refund_svc.webhook")
MAX_BODY = 64 * 1024
Relay = Callable[[str, ProviderState], Coroutine[Any, Any, None]]


def serve_webhooks(
    address: str, secret: str, relay: Relay, loop: asyncio.AbstractEventLoop
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, message: str) -> None:
            body = json.dumps({"message": message}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/webhooks/provider":
                self._reply(404, "not found")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, "body too large")
                return
            body = self.rfile.read(length)
            if not signature_ok(body, self.headers.get(SIGNATURE_HEADER, ""), secret):
                self._reply(401, "bad signature")
                return
            try:
                refund: dict[str, Any] = json.loads(body)["refund"]
                state = ProviderState(
                    reference=str(refund["id"]),
                    status=str(refund["status"]),
                    decline_reason=str(refund.get("decline_reason") or ""),
                    settled_at=str(refund.get("settled_at") or ""),
                )
                key = str(refund["idempotency_key"])
            except (ValueError, KeyError, TypeError):
                self._reply(400, "malformed event")
                return
            try:
                asyncio.run_coroutine_threadsafe(relay(key, state), loop).result(timeout=15)
            except Exception as exc:
                log.warning("could not relay settlement of %s: %s", key, exc)
                self._reply(503, "try again later")
                return
            self._reply(200, "ok")

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug(fmt, *args)

    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="webhooks", daemon=True).start()
    return server

"""Receives the payment provider's settlement webhooks (HMAC-signed HTTP) and relays them to
the refund's workflow. Answers 2xx only once the signal is delivered, so the provider retries
until the platform has it.

A webhook is refused unless its signature covers the body and a timestamp within the tolerance
(a captured webhook replayed later is refused). A genuine one is still only a report: the
workflow counts it only if amount, currency and provider reference match the refund, and flags
it for operators otherwise."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from platform_common.signing import signature_problem
from refund_svc.contract import ProviderState
from refund_svc.provider.adapter import SIGNATURE_HEADER, SIGNATURE_TOLERANCE_S

log = logging.getLogger("refund_svc.webhook")
MAX_BODY = 64 * 1024
Relay = Callable[[str, ProviderState], Coroutine[Any, Any, None]]


def serve_webhooks(
    address: str,
    secret: str,
    relay: Relay,
    loop: asyncio.AbstractEventLoop,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # seconds per socket operation: slow clients cannot hold threads forever

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
            raw_length = self.headers.get("Content-Length") or ""
            if not raw_length.isdigit():
                self._reply(411, "Content-Length required")
                return
            length = int(raw_length)
            if length > MAX_BODY:
                self._reply(413, "body too large")
                return
            body = self.rfile.read(length)
            signature = self.headers.get(SIGNATURE_HEADER, "")
            problem = (
                signature_problem(body, signature, secret, time.time(), tolerance_s)
                if signature.isascii()
                else "bad signature"
            )
            if problem:
                self._reply(401 if problem == "bad signature" else 400, problem)
                return
            try:
                refund: dict[str, Any] = json.loads(body)["refund"]
                amount = refund.get("amount_minor")
                key = str(refund["idempotency_key"])
                state = ProviderState(
                    reference=str(refund["id"])[:128],
                    status=str(refund["status"])[:32],
                    decline_reason=str(refund.get("decline_reason") or "")[:500],
                    settled_at=str(refund.get("settled_at") or "")[:64],
                    amount_minor=amount if isinstance(amount, int) and not isinstance(amount, bool) else -1,
                    currency=str(refund.get("currency") or "")[:3],
                    provider_key=key[:256],
                )
            except (ValueError, KeyError, TypeError, AttributeError):
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

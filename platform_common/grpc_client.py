"""Authenticated channels for service-to-service calls (activities, benchmarks, tests)."""

from __future__ import annotations

import time
from typing import Any

import grpc

from platform_common import tracing
from platform_common.auth import DISPUTE_API, EVIDENCE_API, ORDER_API, REFUND_API, Role, mint_token
from platform_common.config import target_address

# Service key (as in DP_<KEY>_TARGET) -> the API it serves, which is the audience of its tokens.
APIS = {"ORDER": ORDER_API, "DISPUTE": DISPUTE_API, "EVIDENCE": EVIDENCE_API, "REFUND": REFUND_API}


class ServiceToken:
    """Re-mints a short-lived service token before it expires, so long-lived workers keep working.
    Each token names the one API it is for: a token taken from one service's traffic is refused
    by the others."""

    def __init__(self, subject: str, secret: str, audience: str, ttl_seconds: int = 900) -> None:
        self._subject, self._secret, self._audience, self._ttl = subject, secret, audience, ttl_seconds
        self._token, self._expires = "", 0.0

    def token(self) -> str:
        now = time.time()
        if now > self._expires - 60:
            self._token = mint_token(self._subject, Role.SERVICE, self._secret, self._ttl, self._audience)
            self._expires = now + self._ttl
        return self._token


class _BearerInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[misc]
):
    def __init__(self, token: ServiceToken) -> None:
        self._token = token

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self._token.token()}")]
        tracing.inject(metadata)  # the caller's trace continues in the service it calls
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


def service_channel(key: str, subject: str, secret: str, target: str | None = None) -> grpc.aio.Channel:
    """A plaintext channel (loopback, or a mesh that encrypts) to the service `key` ("ORDER",
    "DISPUTE", "EVIDENCE", "REFUND"), carrying tokens of the service identity `subject`."""
    token = ServiceToken(subject, secret, APIS[key])
    return grpc.aio.insecure_channel(target or target_address(key), interceptors=[_BearerInterceptor(token)])

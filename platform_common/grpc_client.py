"""Authenticated channels for service-to-service calls (activities, benchmarks, tests)."""

from __future__ import annotations

import time
from typing import Any

import grpc

from platform_common.auth import Role, mint_token


class ServiceToken:
    """Re-mints a short-lived service token before it expires, so long-lived workers keep working."""

    def __init__(self, subject: str, secret: str, ttl_seconds: int = 900) -> None:
        self._subject, self._secret, self._ttl = subject, secret, ttl_seconds
        self._token, self._expires = "", 0.0

    def token(self) -> str:
        now = time.time()
        if now > self._expires - 60:
            self._token = mint_token(self._subject, Role.SERVICE, self._secret, self._ttl)
            self._expires = now + self._ttl
        return self._token


class _BearerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: ServiceToken) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self._token.token()}")]
        new = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        return await continuation(new, request)


def service_channel(target: str, subject: str, secret: str) -> grpc.aio.Channel:
    """A plaintext channel (loopback, or a mesh that encrypts) carrying a service bearer token."""
    return grpc.aio.insecure_channel(target, interceptors=[_BearerInterceptor(ServiceToken(subject, secret))])

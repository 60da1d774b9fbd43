"""One dpctl invocation's connection to the platform: which bearer token every call carries,
one channel per service (opened on first use, closed when the command ends), and the one place
that turns a refused call into a Refusal.

Every RPC carries a JWT bearer: a token given with --token (or $DPCTL_TOKEN), or one minted for
each call from the dev secret with --as ROLE:SUBJECT. Minted tokens live minutes: enough for one
command, useless soon after if they leak from a terminal's scrollback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from disputes.v1 import disputes_pb2_grpc
from evidence.v1 import evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2_grpc

from operator_cli.failures import UsageFailure, from_rpc_error
from operator_cli.render import Output
from operator_cli.settings import TOKEN_VAR, Settings
from operator_cli.values import Identity
from platform_common.auth import DISPUTE_API, EVIDENCE_API, ORDER_API, REFUND_API, mint_token

# What a JWT (three base64url parts) or any other bearer token (RFC 6750 b64token) is made of.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# Lifetime of the tokens --as mints (one per call).
MINTED_TTL_S = 600

# Service key (as in DP_<KEY>_TARGET) -> the API it serves.
APIS = {"ORDER": ORDER_API, "DISPUTE": DISPUTE_API, "EVIDENCE": EVIDENCE_API, "REFUND": REFUND_API}
_STUBS: dict[str, Callable[[Any], Any]] = {
    "ORDER": orders_pb2_grpc.OrderServiceStub,
    "DISPUTE": disputes_pb2_grpc.DisputeServiceStub,
    "EVIDENCE": evidence_pb2_grpc.EvidenceServiceStub,
    "REFUND": refunds_pb2_grpc.RefundServiceStub,
}


class Session:
    def __init__(
        self,
        settings: Settings,
        out: Output,
        *,
        token: str | None = None,
        identity: Identity | None = None,
        env_token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if token and identity:
            raise UsageFailure("give either --token or --as, not both")
        self.settings, self.out, self.timeout = settings, out, timeout
        self._token = token or ("" if identity else env_token or "")
        self._identity = identity
        self._channels: dict[str, Any] = {}

    def bearer(self) -> str:
        if self._token:
            if not _TOKEN_CHARS.fullmatch(self._token):
                # gRPC would refuse such metadata deep in its C core, with lines of its own.
                raise UsageFailure(
                    f"the token has characters no bearer token has (a newline or a space?): check --token or ${TOKEN_VAR}"
                )
            return self._token
        if self._identity is not None:
            secret = self.settings.secret()
            return mint_token(self._identity.subject, self._identity.role, secret, ttl_seconds=MINTED_TTL_S)
        raise UsageFailure(f"no token: pass --token, set {TOKEN_VAR}, or mint one with --as ROLE:SUBJECT")

    def _metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.bearer()}")]

    def where(self, key: str) -> str:
        return f"{APIS[key]} at {self.settings.target(key)}"

    def _method(self, key: str, name: str) -> Any:
        if key not in self._channels:
            self._channels[key] = grpc.insecure_channel(self.settings.target(key))
        return getattr(_STUBS[key](self._channels[key]), name)

    def unary(self, key: str, name: str, request: Any) -> Any:
        """A unary call with the command's deadline, so an unreachable service fails in bounded time."""
        method, metadata = self._method(key, name), self._metadata()
        try:
            return method(request, metadata=metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.where(key)) from None

    def upload(self, key: str, name: str, requests: Iterator[Any]) -> Any:
        """A client stream. No deadline: a large file takes as long as the link needs (the server
        aborts a stream that stalls)."""
        method, metadata = self._method(key, name), self._metadata()
        try:
            return method(requests, metadata=metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.where(key)) from None

    def stream(self, key: str, name: str, request: Any) -> Iterator[Any]:
        """A server stream, read to its end (or until the caller stops): cancelled on the way out,
        so Ctrl-C or a --limit does not leave the call open on the server."""
        method, metadata = self._method(key, name), self._metadata()
        call = method(request, metadata=metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.where(key)) from None
        finally:
            call.cancel()

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

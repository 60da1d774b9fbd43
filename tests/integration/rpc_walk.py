"""Every RPC of the platform, callable generically (raw bytes in, status code out), for tests that
walk the whole API: the access table, hostile bodies, the fuzz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType

import grpc
from disputes.v1 import disputes_pb2
from evidence.v1 import evidence_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2

_SERVICES: list[tuple[str, ModuleType, str]] = [
    ("ORDER", orders_pb2, "OrderService"),
    ("DISPUTE", disputes_pb2, "DisputeService"),
    ("EVIDENCE", evidence_pb2, "EvidenceService"),
    ("REFUND", refunds_pb2, "RefundService"),
]


@dataclass(frozen=True)
class Rpc:
    key: str  # the stack's service key ("ORDER", ...)
    api: str  # full service name ("orders.v1.OrderService")
    name: str  # method name
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.api}/{self.name}"

    @property
    def request_type(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    def __str__(self) -> str:
        return f"{self.api.split('.')[0]}.{self.name}"


def all_rpcs() -> list[Rpc]:
    out = []
    for key, module, service in _SERVICES:
        descriptor = module.DESCRIPTOR.services_by_name[service]
        out += [Rpc(key, descriptor.full_name, m.name, m) for m in descriptor.methods]
    return out


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str
    reason: str


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def call(
    channel: grpc.aio.Channel,
    rpc: Rpc,
    body: bytes | Message,
    metadata: list[tuple[str, str]],
    timeout: float = 15.0,
) -> Outcome:
    """Send one request (raw bytes: even bytes that are not a valid message) and return how the
    call ended. Client streams send the one message and close; server streams are drained (a
    live watch: until its first answer)."""
    raw = body if isinstance(body, bytes) else body.SerializeToString()
    try:
        if rpc.method.client_streaming:
            await channel.stream_unary(rpc.path)(_once(raw), metadata=metadata, timeout=timeout)
        elif rpc.method.server_streaming:
            # Drained, or, for a stream that goes on live (WatchDisputeEvents), its first answer.
            stream = channel.unary_stream(rpc.path)(raw, metadata=metadata, timeout=timeout)
            async for _ in stream:
                if rpc.name.startswith("Watch"):
                    stream.cancel()
                    break
        else:
            await channel.unary_unary(rpc.path)(raw, metadata=metadata, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        trailing = dict(exc.trailing_metadata() or ())
        return Outcome(exc.code(), exc.details() or "", str(trailing.get("dp-error-reason", "")))
    return Outcome(grpc.StatusCode.OK, "", "")

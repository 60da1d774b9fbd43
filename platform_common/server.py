"""One bootstrap for every gRPC server: auth, error mapping, health, reflection, shutdown.

Each service's RPCs are declared in the access table (platform_common/access.py); a method that
is not declared is refused for everyone, so forgetting to declare a new RPC fails closed.

Requests reach handlers only after the caller is authenticated and authorized: the server takes
the raw bytes, checks the token and the table, and only then parses the message, so an
anonymous caller learns nothing from the parser and a body that is not valid protobuf is an
INVALID_ARGUMENT, never an UNKNOWN.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from platform_common import logs
from platform_common.access import Access
from platform_common.auth import Caller, caller_from_metadata, set_current_caller
from platform_common.errors import REASON_METADATA_KEY, DomainError, InvalidArgument, PermissionDenied
from platform_common.handlers import WrappingInterceptor, rebuild, respond
from platform_common.metrics import GaugeSource, serve_metrics
from platform_common.observe import ObservingInterceptor

log = logging.getLogger(__name__)

# Method name (last path segment) -> who may call it (platform_common/access.py).
MethodRoles = Mapping[str, Access]

# Status messages travel in a header: keep them readable and far below any client's limit.
MAX_MESSAGE_CHARS = 500


def clip(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "\u2026"


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, DomainError):
        if exc.reason:  # machine-readable refusal reason, for clients that branch on it
            context.set_trailing_metadata(((REASON_METADATA_KEY, exc.reason),))
        await context.abort(exc.code, clip(exc.message))
    if isinstance(exc, OperationalError | InterfaceError):
        ref = uuid.uuid4().hex[:12]
        log.warning("database unavailable (ref %s): %s", ref, exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"database unavailable (ref {ref}); retry later")
    if isinstance(exc, DataError):
        # A value the database cannot store (a NUL byte, a string past its column): the
        # request's fault, and nothing was written (the transaction rolled back).
        log.warning("request refused by the database: %s", exc.orig)
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "a value in the request cannot be stored (invalid characters or too long)",
        )
    if isinstance(exc, NotImplementedError):
        # Generated servicer bases raise this for RPCs that a later milestone implements.
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
    ref = uuid.uuid4().hex[:12]
    log.exception("unhandled error (ref %s)", ref, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {ref})")


def _parser(deserialize: Callable[[bytes], Any] | None, name: str) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        if deserialize is None:
            return raw
        try:
            return deserialize(raw)
        except (DecodeError, ValueError, TypeError, UnicodeDecodeError):
            raise InvalidArgument(
                f"the {name} request is not a valid protobuf message (truncated, or text that is not UTF-8)"
            ) from None

    return parse


class AuthInterceptor(WrappingInterceptor):
    """Authenticates every call, checks the access table, parses the request, and maps domain
    errors to statuses."""

    def __init__(self, secret: str, service: str, method_roles: MethodRoles) -> None:
        self._secret = secret
        self._service = service
        self._prefix = f"/{service}/"
        self._roles = method_roles

    def _authorize(self, method: str, metadata: Any) -> Caller:
        caller = caller_from_metadata(list(metadata or ()), self._secret, self._service)
        name = method.removeprefix(self._prefix)
        access = self._roles.get(name)
        if access is None or not access.allows(caller):
            raise PermissionDenied(f"{caller.describe()} may not call {name}")
        return caller

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, metadata: list[tuple[str, str]]
    ) -> grpc.RpcMethodHandler:
        authorize = self._authorize
        name = method.rsplit("/", 1)[-1]
        parse = _parser(handler.request_deserializer, name)
        streaming_in = handler.stream_unary is not None or handler.stream_stream is not None
        inner = handler.unary_unary or handler.stream_unary
        inner_stream = handler.unary_stream or handler.stream_stream

        async def parsed(raw_stream: AsyncIterator[bytes]) -> AsyncIterator[Any]:
            async for raw in raw_stream:
                yield parse(raw)

        def message_of(request: Any) -> Any:
            if streaming_in:
                return parsed(request)
            message = parse(request)
            logs.bind_message(message)  # the request's ids tag its log lines and span
            return message

        async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                set_current_caller(authorize(method, metadata))
                return await inner(message_of(request), context)
            except Exception as exc:
                await _abort(context, exc, method)

        async def stream_response(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                set_current_caller(authorize(method, metadata))
                async for item in respond(inner_stream(message_of(request), context)):
                    yield item
            except Exception as exc:
                await _abort(context, exc, method)

        # Raw bytes in: parsing happens in the wrapper, after authentication.
        return rebuild(handler, unary_response, stream_response, None)


Registrar = Callable[[grpc.aio.Server], None]


async def build_server(
    *,
    service_name: str,
    method_roles: MethodRoles,
    register: Registrar,
    address: str,
    secret: str,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[grpc.aio.Server, int]:
    """Create and start a server; returns it with the bound port (useful with port 0)."""
    server = grpc.aio.server(
        interceptors=[
            ObservingInterceptor(service_name),
            AuthInterceptor(secret, service_name, method_roles),
        ],
        options=options,
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    await health_servicer.set(service_name, serving)
    await health_servicer.set("", serving)
    return server, port


async def serve_forever(server: grpc.aio.Server, name: str, grace_seconds: float = 10.0) -> None:
    """Run until SIGTERM/SIGINT, then stop taking calls and let in-flight ones finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("%s: shutting down (grace %.0fs)", name, grace_seconds)
    await server.stop(grace_seconds)


async def run_service(
    *,
    key: str,
    service_name: str,
    method_roles: MethodRoles,
    register: Registrar,
    options: Sequence[tuple[str, Any]] = (),
    gauges: GaugeSource | None = None,
) -> None:
    """Serve one service until signalled: the common `python -m <svc>` entry point. Its
    /metrics carry the RPC figures and, given a source, the platform gauges of its store."""
    from platform_common.auth import jwt_secret
    from platform_common.config import listen_address

    address = listen_address(key)
    serve_metrics(key, service_name, gauges)  # first: a taken port fails before any call is served
    server, port = await build_server(
        service_name=service_name,
        method_roles=method_roles,
        register=register,
        address=address,
        secret=jwt_secret(),
        options=options,
    )
    log.info("%s listening on %s (port %d)", service_name, address, port)
    await serve_forever(server, service_name)

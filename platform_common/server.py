"""One bootstrap for every gRPC server: auth, error mapping, health, reflection, shutdown.

Each service declares which roles may call each of its methods (`MethodRoles`); a method that is
not declared is refused for everyone, so forgetting to declare a new RPC fails closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import InterfaceError, OperationalError

from platform_common.auth import Caller, Role, caller_from_metadata, set_current_caller
from platform_common.errors import DomainError, PermissionDenied

log = logging.getLogger(__name__)

# Method name (last path segment) -> roles allowed to call it.
MethodRoles = Mapping[str, frozenset[Role]]

_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def roles(*rs: Role) -> frozenset[Role]:
    return frozenset(rs)


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, DomainError):
        if exc.reason:  # machine-readable refusal reason, for clients that branch on it
            context.set_trailing_metadata((("dp-error-reason", exc.reason),))
        await context.abort(exc.code, exc.message)
    if isinstance(exc, OperationalError | InterfaceError):
        ref = uuid.uuid4().hex[:12]
        log.warning("database unavailable (ref %s): %s", ref, exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"database unavailable (ref {ref}); retry later")
    if isinstance(exc, NotImplementedError):
        # Generated servicer bases raise this for RPCs that a later milestone implements.
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
    ref = uuid.uuid4().hex[:12]
    log.exception("unhandled error (ref %s)", ref, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {ref})")


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates every call, checks the method's roles, and maps domain errors to statuses."""

    def __init__(self, secret: str, service: str, method_roles: MethodRoles) -> None:
        self._secret = secret
        self._prefix = f"/{service}/"
        self._roles = method_roles

    def _authorize(self, method: str, metadata: Any) -> Caller:
        caller = caller_from_metadata({k: v for k, v in metadata or () if isinstance(v, str)}, self._secret)
        name = method.removeprefix(self._prefix)
        allowed = self._roles.get(name, frozenset())
        if caller.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed)) or "none"
            raise PermissionDenied(f"role {caller.role.value!r} may not call {name} (allowed: {names})")
        return caller

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_PUBLIC_PREFIXES):
            return handler
        return self._wrap(handler, details.method, details.invocation_metadata)

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str, metadata: Any) -> grpc.RpcMethodHandler:
        authorize = self._authorize
        kw = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary or handler.stream_unary:
            inner = handler.unary_unary or handler.stream_unary

            async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    set_current_caller(authorize(method, metadata))
                    return await inner(request, context)
                except Exception as exc:
                    await _abort(context, exc, method)

            if handler.unary_unary:
                return grpc.unary_unary_rpc_method_handler(unary_response, **kw)
            return grpc.stream_unary_rpc_method_handler(unary_response, **kw)

        inner_stream = handler.unary_stream or handler.stream_stream

        async def stream_response(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                set_current_caller(authorize(method, metadata))
                result = inner_stream(request, context)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                else:
                    await result
            except Exception as exc:
                await _abort(context, exc, method)

        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_response, **kw)
        return grpc.stream_stream_rpc_method_handler(stream_response, **kw)


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
        interceptors=[AuthInterceptor(secret, service_name, method_roles)], options=options
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


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def run_service(
    *,
    key: str,
    service_name: str,
    method_roles: MethodRoles,
    register: Registrar,
    options: Sequence[tuple[str, Any]] = (),
) -> None:
    """Serve one service until signalled: the common `python -m <svc>` entry point."""
    from platform_common.auth import jwt_secret
    from platform_common.config import listen_address

    address = listen_address(key)
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

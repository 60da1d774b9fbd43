"""The one way the platform's server interceptors wrap a method's handler: skip what is public
(health, reflection), and rebuild a handler of the same kind (unary or streaming response)
around the interceptor's own function, so no interceptor gets the four gRPC kinds wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Streaming = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


class WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(PUBLIC_PREFIXES):
            return handler
        return self.wrap(handler, details.method, list(details.invocation_metadata or ()))

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, metadata: list[tuple[str, str]]
    ) -> grpc.RpcMethodHandler:
        raise NotImplementedError


def rebuild(
    handler: grpc.RpcMethodHandler,
    unary: Unary,
    streaming: Streaming,
    request_deserializer: Callable[[bytes], Any] | None,
) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s kind: `unary` answers a single response, `streaming` a stream."""
    kw = {"request_deserializer": request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary, **kw)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary, **kw)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming, **kw)
    return grpc.stream_stream_rpc_method_handler(streaming, **kw)


async def respond(result: Any) -> AsyncIterator[Any]:
    """What a streaming handler produced: its items, or nothing when it wrote them itself."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    else:
        await result

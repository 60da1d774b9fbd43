"""What every served RPC leaves behind for operators: a count by method and status code, a
latency sample, a trace span (a child of the caller's), and log lines tagged with its ids.

It is the outermost server interceptor, so it sees every outcome, refusals by the access check
included: the status is the one the caller receives (the context's code after an abort).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from platform_common import logs, tracing
from platform_common.handlers import WrappingInterceptor, rebuild, respond
from platform_common.metrics import RPC_HANDLED, RPC_SECONDS, RPC_STARTED


def observability(service: str) -> None:
    """A process's logs (JSON, tagged) and traces (exported where configured), set up first."""
    logs.configure_logging(service)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say what they do only on failure
    tracing.setup_tracing(service)


# Outcomes that are the platform's fault, logged as warnings; other refusals are the caller's.
_OURS = frozenset({"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS"})
log = logging.getLogger("rpc")


def _code(context: grpc.aio.ServicerContext, failed: bool, cancelled: bool) -> str:
    code = context.code()
    if cancelled and code is None:
        # The caller went away or its deadline passed: gRPC cancels the handler either way, and
        # which came first cannot be told apart here (the client's own timer often cancels the
        # call a moment before the server's deadline would), so both count as CANCELLED.
        return "CANCELLED"
    if code is None:
        return "UNKNOWN" if failed else "OK"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    try:
        return str(grpc.StatusCode(code).name)  # some versions keep the raw value
    except ValueError:
        return str(code)


class ObservingInterceptor(WrappingInterceptor):
    def __init__(self, service: str) -> None:
        self._service = service

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, metadata: list[tuple[str, str]]
    ) -> grpc.RpcMethodHandler:
        service, name = self._service, method.rsplit("/", 1)[-1]
        inner = handler.unary_unary or handler.stream_unary
        inner_stream = handler.unary_stream or handler.stream_stream

        @contextmanager
        def observed(context: grpc.aio.ServicerContext) -> Iterator[None]:
            """One call: counted, timed, traced, and logged when it did not succeed."""
            RPC_STARTED.labels(service, name).inc()
            started, failed, cancelled = time.perf_counter(), False, False
            error = ""
            with tracing.server_span(service, name, metadata) as span:
                try:
                    yield
                except (asyncio.CancelledError, GeneratorExit):
                    # GeneratorExit: gRPC stopped reading the stream, because writing the last
                    # item failed. Our replies are typed messages that always serialize, so that
                    # write failed because the caller went away: cancelled, like the rest.
                    failed = cancelled = True
                    raise
                except BaseException as exc:
                    failed, error = True, type(exc).__name__
                    raise
                finally:
                    code = _code(context, failed, cancelled)
                    took = time.perf_counter() - started
                    RPC_HANDLED.labels(service, name, code).inc()
                    RPC_SECONDS.labels(service, name).observe(took)
                    span.set_attribute("rpc.grpc.status_code", code)
                    for key, value in logs.current_ids().items():
                        span.set_attribute(f"dp.{key}", value)
                    if code != "OK":  # one line per call that did not succeed, with its ids
                        level = logging.WARNING if code in _OURS else logging.INFO
                        extra = {"method": name, "code": code, "duration_ms": round(took * 1000, 1)}
                        if error and code in _OURS:  # which exception, for whoever looks into it
                            extra["error"] = error
                        log.log(level, "%s answered %s", name, code, extra=extra)

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with observed(context):
                return await inner(request, context)

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with observed(context):
                async for item in respond(inner_stream(request, context)):
                    yield item

        return rebuild(handler, unary, streaming, handler.request_deserializer)

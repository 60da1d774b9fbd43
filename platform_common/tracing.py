"""OpenTelemetry tracing across gRPC and Temporal: one trace from an RPC through the workflow it
starts or updates to the activities that workflow runs, and on to the services they call.

Off unless an OTLP endpoint is configured (the standard OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): then every process exports its spans over OTLP/gRPC with
its service name, and Temporal clients and workers get the SDK's tracing interceptor. Otherwise
the OpenTelemetry API stays a no-op and no interceptor is added, so an untraced platform pays
nothing for it.

The context travels in W3C `traceparent` metadata on gRPC calls (platform_common/grpc_client.py
injects it, platform_common/observe.py extracts it) and in Temporal headers.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio.client import Interceptor

_TRACER = "dispute-platform"
# W3C trace context only: baggage a caller sends is not carried on to internal services.
_PROPAGATOR = TraceContextTextMapPropagator()
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracing_enabled() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARS)


def setup_tracing(service: str) -> None:
    """Export this process's spans where an endpoint is configured; a no-op otherwise."""
    if not tracing_enabled() or isinstance(trace.get_tracer_provider(), _sdk_provider_type()):
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # flush what is buffered when the process stops


def _sdk_provider_type() -> type:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider


def temporal_interceptors() -> Sequence[Interceptor]:
    """The Temporal SDK's OpenTelemetry interceptor for a client (its workers inherit it)."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def inject(metadata: list[tuple[str, str]]) -> None:
    """Add the current trace context to outgoing gRPC metadata (nothing when not tracing)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    metadata.extend(carrier.items())


@contextmanager
def server_span(service: str, method: str, metadata: Sequence[tuple[str, str]]) -> Iterator[trace.Span]:
    """The span of one served RPC, a child of the caller's span when its metadata carries one."""
    carrier: Mapping[str, str] = {k: v for k, v in metadata if isinstance(v, str)}
    parent = _PROPAGATOR.extract(carrier)
    tracer = trace.get_tracer(_TRACER)
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    with tracer.start_as_current_span(
        f"{service}/{method}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span

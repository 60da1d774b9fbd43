"""Prometheus metrics of a service process: RPCs by method and code, their latency, and the
platform gauges its store answers (disputes by status, SLA breaches, overdue refunds, webhook
backlog).

Every service serves /metrics on its own address (platform_common/config.py `metrics_address`;
DP_<SERVICE>_METRICS_LISTEN, "off" to disable). Workers export the Temporal SDK's own runtime
metrics instead (platform_common/worker.py), from the SDK's Prometheus endpoint.

Gauges are read from the database when Prometheus scrapes, not kept in memory: every replica
reports the same store-wide figure (aggregate them with max, not sum), and a restarted replica
is right at once. A store that cannot answer makes `dp_gauges_up` 0 instead of failing the scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from platform_common.config import ConfigError, metrics_address

log = logging.getLogger(__name__)

# Latency buckets (seconds): a cached read is milliseconds, a dispute opening a few hundred.
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RPC_STARTED = Counter("dp_grpc_server_started", "RPCs received, by method", ["service", "method"])
RPC_HANDLED = Counter(
    "dp_grpc_server_handled", "RPCs completed, by method and gRPC status code", ["service", "method", "code"]
)
RPC_SECONDS = Histogram(
    "dp_grpc_server_handling_seconds",
    "Time to answer an RPC (to the last message of a stream), by method",
    ["service", "method"],
    buckets=_BUCKETS,
)


@dataclass(frozen=True)
class Gauge:
    """One sample of a platform gauge: `dp_<name>{labels} value`."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


GaugeSource = Callable[[], Iterable[Gauge]]


# Scrapes within this many seconds share one read of the store: the metrics port carries no
# authentication, and a scraper hammering it must not become a stream of table scans.
GAUGE_CACHE_SECONDS = 5.0


class _PlatformGauges(Collector):
    def __init__(self, service: str, source: GaugeSource) -> None:
        self._service, self._source = service, source
        self._lock = threading.Lock()
        self._read_at, self._samples = -GAUGE_CACHE_SECONDS, list[Gauge]()

    def _read(self) -> list[Gauge]:
        with self._lock:  # one store read at a time, whatever the number of scrapers
            if time.monotonic() - self._read_at >= GAUGE_CACHE_SECONDS:
                self._samples = list(self._source())
                self._read_at = time.monotonic()
            return self._samples

    def describe(self) -> Iterator[Metric]:
        return iter(())  # registering must not query the store (it would on the event loop)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dp_gauges_up", "1 when the store answered the gauges", labels=["service"])
        try:
            samples = self._read()
        except Exception as exc:  # a store outage must not fail the whole scrape
            log.warning("platform gauges unavailable: %s", exc)
            up.add_metric([self._service], 0)
            yield up
            return
        up.add_metric([self._service], 1)
        yield up
        families: dict[str, GaugeMetricFamily] = {}
        for g in samples:
            family = families.get(g.name)
            if family is None:
                family = families[g.name] = GaugeMetricFamily(f"dp_{g.name}", g.help, labels=list(g.labels))
            family.add_metric(list(g.labels.values()), g.value)
        yield from families.values()


def serve_metrics(key: str, service: str, gauges: GaugeSource | None = None) -> str | None:
    """Serve /metrics for this process; returns the address, or None when disabled."""
    address = metrics_address(key)
    if address is None:
        return None
    if gauges is not None:
        REGISTRY.register(_PlatformGauges(service, gauges))
    host, port = address.rsplit(":", 1)
    try:
        start_http_server(int(port), addr=host.strip("[]"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot serve metrics on {address} (DP_{key}_METRICS_LISTEN): {exc}") from exc
    log.info("%s metrics on http://%s/metrics", service, address)
    return address

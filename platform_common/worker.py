"""Running Temporal workers: what every domain's `worker` module shares.

Each domain builds its own `Worker` (its task queue, its workflows, its activities bound to the
gRPC stubs of the services they call); this module connects to Temporal, runs one or more of
them until SIGTERM/SIGINT and drains them. It knows no domain: the composition of domains into a
process is the job of `python -m workers`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, metrics_address
from platform_common.observe import observability
from platform_common.tracing import temporal_interceptors

log = logging.getLogger("worker")

# Builds one domain's worker from a connected client and the platform's JWT secret (the worker
# calls services with its own identity).
WorkerFactory = Callable[[Client, str], Worker]


def runtime(metrics_key: str) -> Runtime | None:
    """A Temporal runtime that serves the SDK's own metrics (task slots, poll and schedule
    latencies, workflow and activity outcomes) in Prometheus format, or None when they are off."""
    address = metrics_address(metrics_key)
    if address is None:
        return None
    metrics = PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
    log.info("worker metrics (Temporal SDK) on http://%s/metrics", address)
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))


async def connect(cfg: TemporalConfig, with_runtime: Runtime | None = None) -> Client:
    """Wait for Temporal at start-up (it may still be booting), then connect."""
    delay = 0.5
    while True:
        try:
            return await Client.connect(
                cfg.address,
                namespace=cfg.namespace,
                runtime=with_runtime,
                interceptors=temporal_interceptors(),
            )
        except RuntimeError as exc:
            log.warning("Temporal at %s not reachable yet (%s); retrying", cfg.address, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def keep_bytecode() -> None:
    """The workflow sandbox re-imports each workflow module for every new workflow run. Without
    cached bytecode (PYTHONDONTWRITEBYTECODE is common in containers) every run recompiles the
    module from source: that was 30-40% of the disputes worker's CPU. Bytecode goes to a private
    cache directory, so a read-only code directory works too."""
    sys.dont_write_bytecode = False
    if sys.pycache_prefix is None:
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), f"dp-pycache-{os.getuid()}")


async def serve(factories: Sequence[tuple[str, WorkerFactory]]) -> None:
    """Run the named domains' workers in this process until SIGTERM/SIGINT, then drain them."""
    keep_bytecode()
    names = [name for name, _ in factories]
    label = names[0] if len(names) == 1 else "all"
    observability(f"worker-{label}")
    cfg = TemporalConfig.from_env()
    secret = jwt_secret()
    client = await connect(cfg, runtime(f"WORKER_{label.upper()}"))
    workers = [build(client, secret) for _, build in factories]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker for %s polling %s", ", ".join(name for name, _ in factories), cfg.address)
    for w in workers:
        await w.__aenter__()
    await stop.wait()
    log.info("worker draining")
    await asyncio.gather(*(w.__aexit__(None, None, None) for w in workers))


def run(name: str, build: WorkerFactory) -> None:
    """Entry point of one domain's `python -m <domain>.worker`."""
    asyncio.run(serve([(name, build)]))

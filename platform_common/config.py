"""Configuration from the environment, in one place, so every process reads the same names."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platform_common.errors import DomainError


class ConfigError(DomainError):
    pass


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required")
    return value


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"environment variable {name} must be a positive number, got {raw!r}")
    return value


# Default ports; every one can be overridden with DP_<NAME>_LISTEN / DP_<NAME>_TARGET.
DEFAULT_PORTS = {"ORDER": 50051, "DISPUTE": 50052, "EVIDENCE": 50053, "REFUND": 50054}


def listen_address(service: str) -> str:
    """Where a service binds. Loopback unless configured: exposing a port is a deliberate act."""
    host = os.environ.get("DP_BIND_HOST", "127.0.0.1")
    return os.environ.get(f"DP_{service}_LISTEN") or f"{host}:{DEFAULT_PORTS[service]}"


def target_address(service: str, environ: Mapping[str, str] | None = None) -> str:
    """Where clients reach a service (differs from the bind address behind a load balancer).
    `environ` stands in for the process environment (the operator CLI merges data/dev.env in)."""
    source = os.environ if environ is None else environ
    return source.get(f"DP_{service}_TARGET") or f"127.0.0.1:{DEFAULT_PORTS[service]}"


# The repository's ./data: where `make up` keeps its data and writes dev.env (DP_DATA_DIR moves it).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# The file `make up` writes into the data directory: every address and the generated secrets.
DEV_ENV_FILE = "dev.env"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local platform keeps its data: $DP_DATA_DIR, else ./data of the repository."""
    raw = (os.environ if environ is None else environ).get("DP_DATA_DIR")
    return Path(raw) if raw else DEFAULT_DATA_DIR


# Where each process serves Prometheus metrics: the services (their RPCs and platform gauges)
# and the workers (the Temporal SDK's runtime metrics). DP_<KEY>_METRICS_LISTEN overrides one,
# "off" disables it.
DEFAULT_METRICS_PORTS = {
    "ORDER": 9151,
    "DISPUTE": 9152,
    "EVIDENCE": 9153,
    "REFUND": 9154,
    "WORKER_ALL": 9160,
    "WORKER_ORDERS": 9161,
    "WORKER_DISPUTES": 9162,
    "WORKER_REFUNDS": 9163,
}


def metrics_address(key: str) -> str | None:
    """Where process `key` serves /metrics (loopback unless configured), or None when off."""
    configured = os.environ.get(f"DP_{key}_METRICS_LISTEN", "")
    if configured.lower() == "off":
        return None
    host = os.environ.get("DP_BIND_HOST", "127.0.0.1")
    return configured or f"{host}:{DEFAULT_METRICS_PORTS[key]}"


@dataclass(frozen=True)
class TemporalConfig:
    address: str
    namespace: str

    @classmethod
    def from_env(cls) -> TemporalConfig:
        return cls(
            address=os.environ.get("DP_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
            namespace=os.environ.get("DP_TEMPORAL_NAMESPACE", "default"),
        )


def day_length_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The platform's one time scale: how long a "day" of every rule is, in seconds.

    86400 in production. It drives order protection, dispute policies (new disputes carry it in
    their policy version), refund windows and the payment simulator alike, so their deadlines
    always agree. Local demos and real-time integration tests shrink it here, and only here;
    time-skipping tests keep the real value.
    """
    return env_float("DP_DAY_SECONDS", 86400.0, environ)

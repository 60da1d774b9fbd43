"""The whole platform as local processes: Temporal dev server, S3, four services, the worker.

Used by `make up` (deploy/launcher.py) and by the integration tests, so what the tests drive is
what a developer runs. Temporal and S3 are pluggable: tests may swap in containers.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from deploy.binaries import S3Binary, s3_binary, temporal_cli
from deploy.processes import Process, free_port, port_open, require_free, wait_until
from platform_common.config import DEFAULT_METRICS_PORTS
from platform_common.search_attributes import cli_flags

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "ORDER": "order_svc",
    "DISPUTE": "dispute_svc",
    "EVIDENCE": "evidence_svc",
    "REFUND": "refund_svc",
}
# One Temporal worker process per domain (`python -m <package>.worker`), each on its own queue.
WORKERS = {"orders": "order_svc", "disputes": "dispute_svc", "refunds": "refund_svc"}
# Every process that serves /metrics: the services and the workers (DP_<KEY>_METRICS_LISTEN).
METRICS = [*SERVICES, *(f"WORKER_{d.upper()}" for d in WORKERS)]


class Infra(Protocol):
    """A server the platform depends on (Temporal, S3): a process here, a container in some tests."""

    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def address(self) -> str: ...
    def describe(self) -> str: ...


@dataclass
class Ports:
    temporal: int = 7233
    temporal_ui: int = 8233
    s3: int = 9000
    s3_console: int = 9001
    provider: int = 8650
    refund_webhook: int = 50064
    services: dict[str, int] = field(
        default_factory=lambda: {
            "ORDER": 50051,
            "DISPUTE": 50052,
            "EVIDENCE": 50053,
            "REFUND": 50054,
        }
    )
    metrics: dict[str, int] = field(default_factory=lambda: {k: DEFAULT_METRICS_PORTS[k] for k in METRICS})

    @classmethod
    def random(cls) -> Ports:
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            {k: free_port() for k in SERVICES},
            {k: free_port() for k in METRICS},
        )


@dataclass
class Secrets:
    jwt_secret: str
    s3_access_key: str
    s3_secret_key: str
    provider_api_key: str
    provider_webhook_secret: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Secrets:
        """Generated once per data directory (mode 0600), so a restart keeps working tokens;
        a secret added by a newer version is generated into an existing file."""
        path = data_dir / "secrets.json"
        fresh = {
            "jwt_secret": secrets.token_urlsafe(48),
            "s3_access_key": "dp-" + secrets.token_hex(8),
            "s3_secret_key": secrets.token_urlsafe(32),
            "provider_api_key": "sk_sim_" + secrets.token_hex(16),
            "provider_webhook_secret": secrets.token_urlsafe(32),
        }
        stored = json.loads(path.read_text()) if path.exists() else {}
        merged = {**fresh, **{k: v for k, v in stored.items() if k in fresh}}
        if merged != stored:
            data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(merged))
        return cls(**merged)


class LocalTemporal:
    """`temporal server start-dev` on a SQLite file, with the UI and our search attributes."""

    name = "temporal"

    def __init__(
        self, data_dir: Path, host: str, port: int, ui_port: int, metrics_port: int | None = None
    ) -> None:
        """`metrics_port`: the server's own Prometheus metrics (benches count its requests)."""
        self.host, self.port, self.ui_port = host, port, ui_port
        self.db = data_dir / "temporal.db"
        self.proc = Process(
            "temporal",
            [
                temporal_cli(),
                "server",
                "start-dev",
                "--ip",
                host,
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--db-filename",
                str(self.db),
                "--namespace",
                "default",
                "--log-level",
                "warn",
                *(["--metrics-port", str(metrics_port)] if metrics_port else []),
                *cli_flags(),
            ],
            data_dir / "logs" / "temporal.log",
        )

    def start(self) -> None:
        require_free(self.host, self.port, self.name)
        self.proc.start()
        wait_until(lambda: port_open(self.host, self.port), "Temporal frontend", 60, self.proc)

    def stop(self) -> None:
        self.proc.stop()

    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return (
            f"Temporal dev server {self.address()} (SQLite {self.db}); UI http://{self.host}:{self.ui_port}"
        )


class LocalS3:
    """MinIO (or SeaweedFS where MinIO cannot be had) on a local data directory."""

    name = "s3"

    def __init__(
        self,
        binary: S3Binary,
        data_dir: Path,
        host: str,
        port: int,
        console_port: int,
        creds: Secrets,
    ) -> None:
        self.binary, self.host, self.port, self.console_port = binary, host, port, console_port
        logs = data_dir / "logs" / f"{binary.kind}.log"
        if binary.kind == "minio":
            argv = [
                binary.path,
                "server",
                str(data_dir / "minio"),
                "--address",
                f"{host}:{port}",
                "--console-address",
                f"{host}:{console_port}",
                "--quiet",
            ]
            env = {
                "MINIO_ROOT_USER": creds.s3_access_key,
                "MINIO_ROOT_PASSWORD": creds.s3_secret_key,
            }
        else:
            config = data_dir / "seaweed-s3.json"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(
                json.dumps(
                    {
                        "identities": [
                            {
                                "name": "platform",
                                "credentials": [
                                    {
                                        "accessKey": creds.s3_access_key,
                                        "secretKey": creds.s3_secret_key,
                                    }
                                ],
                                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                            }
                        ]
                    }
                )
            )
            (data_dir / "seaweed").mkdir(parents=True, exist_ok=True)
            argv = [
                binary.path,
                "mini",
                f"-dir={data_dir / 'seaweed'}",
                f"-ip={host}",
                f"-ip.bind={host}",
                f"-s3.port={port}",
                f"-s3.config={config}",
                "-admin.ui=false",
                f"-master.port={free_port()}",
                f"-volume.port={free_port()}",
                f"-filer.port={free_port()}",
                f"-admin.port={free_port()}",
                "-webdav=false",
            ]
            env = {}
        self.proc = Process(binary.kind, argv, logs, env)

    def start(self) -> None:
        require_free(self.host, self.port, self.name)
        self.proc.start()
        wait_until(
            lambda: port_open(self.host, self.port),
            f"{self.binary.kind} S3 endpoint",
            90,
            self.proc,
        )

    def stop(self) -> None:
        self.proc.stop()

    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        extra = f"; console http://{self.host}:{self.console_port}" if self.binary.kind == "minio" else ""
        return f"{self.binary.kind} S3 http://{self.address()}{extra}"


class Stack:
    def __init__(
        self,
        data_dir: Path,
        ports: Ports | None = None,
        *,
        host: str = "127.0.0.1",
        day_seconds: float | None = None,
        temporal: Infra | None = None,
        s3: Infra | None = None,
        dispute_policy: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        # Settings for every platform process on top of the defaults (tests shorten timers).
        self.extra_env = dict(extra_env or {})
        self.ports = ports or Ports()
        self.host = host
        self.secrets = Secrets.load_or_create(self.data_dir)
        self.temporal: Infra = temporal or LocalTemporal(
            self.data_dir, host, self.ports.temporal, self.ports.temporal_ui
        )
        self.s3: Infra = s3 or LocalS3(
            s3_binary(), self.data_dir, host, self.ports.s3, self.ports.s3_console, self.secrets
        )
        self.day_seconds = day_seconds
        # Policy version for new disputes; DisputeService puts it on the stack's day (DP_DAY_SECONDS).
        self.dispute_policy = dispute_policy or os.environ.get("DP_DISPUTE_POLICY", "2026-11-standard")
        self.apps: dict[str, Process] = {}

    def app_env(self) -> dict[str, str]:
        env = {
            "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}",
            "PYTHONUNBUFFERED": "1",
            "DP_JWT_SECRET": self.secrets.jwt_secret,
            "DP_TEMPORAL_ADDRESS": self.temporal.address(),
            "DP_S3_ENDPOINT": self.s3.address(),
            "DP_S3_ACCESS_KEY": self.secrets.s3_access_key,
            "DP_S3_SECRET_KEY": self.secrets.s3_secret_key,
            "DP_ORDER_DB_URL": f"sqlite:///{self.data_dir / 'orders.db'}",
            "DP_REFUND_DB_URL": f"sqlite:///{self.data_dir / 'refunds.db'}",
            "DP_EVIDENCE_DB_URL": f"sqlite:///{self.data_dir / 'evidence.db'}",
            "DP_DISPUTE_DB_URL": f"sqlite:///{self.data_dir / 'disputes.db'}",
            "DP_DISPUTE_POLICY": self.dispute_policy,
            "DP_REFUND_WEBHOOK_LISTEN": f"{self.host}:{self.ports.refund_webhook}",
            "DP_PROVIDER_URL": f"http://{self.host}:{self.ports.provider}",
            "DP_PROVIDER_API_KEY": self.secrets.provider_api_key,
            "DP_PROVIDER_WEBHOOK_SECRET": self.secrets.provider_webhook_secret,
        }
        for key, port in self.ports.services.items():
            env[f"DP_{key}_LISTEN"] = f"{self.host}:{port}"
            env[f"DP_{key}_TARGET"] = f"{self.host}:{port}"
        for key, port in self.ports.metrics.items():
            env[f"DP_{key}_METRICS_LISTEN"] = f"{self.host}:{port}"
        if self.day_seconds is not None:
            env["DP_DAY_SECONDS"] = str(self.day_seconds)
        env.update(self.extra_env)
        return env

    def service_address(self, key: str) -> str:
        return f"{self.host}:{self.ports.services[key]}"

    def metrics_url(self, key: str) -> str:
        """Where process `key` ("DISPUTE", "WORKER_DISPUTES", ...) serves Prometheus metrics."""
        return f"http://{self.host}:{self.ports.metrics[key]}/metrics"

    def start(self) -> None:
        self.temporal.start()
        self.s3.start()
        env = self.app_env()
        logs = self.data_dir / "logs"
        # The simulated payment processor: an external system with its own data and settings.
        day = self.day_seconds or 86400.0
        provider_env = {
            **env,
            "DP_PROVIDER_LISTEN": f"{self.host}:{self.ports.provider}",
            "DP_PROVIDER_DB": str(self.data_dir / "paysim.db"),
            "DP_PROVIDER_WEBHOOK_URL": f"http://{self.host}:{self.ports.refund_webhook}/webhooks/provider",
            "DP_PROVIDER_SETTLE_SECONDS": os.environ.get("DP_PROVIDER_SETTLE_SECONDS") or str(5 * day),
        }
        self.apps["paysim"] = Process(
            "paysim",
            [sys.executable, "-m", "refund_svc.provider.simulator"],
            logs / "paysim.log",
            provider_env,
            ROOT,
        )
        for module in SERVICES.values():
            self.apps[module] = Process(
                module, [sys.executable, "-m", module], logs / f"{module}.log", env, ROOT
            )
        for domain, package in WORKERS.items():
            self.apps[f"worker-{domain}"] = Process(
                f"worker-{domain}",
                [sys.executable, "-m", f"{package}.worker"],
                logs / f"worker-{domain}.log",
                env,
                ROOT,
            )
        for proc in self.apps.values():
            proc.start()
        for key, module in SERVICES.items():
            port = self.ports.services[key]
            wait_until(
                self._listening(port),
                f"{module} on port {port}",
                60,
                self.apps[module],
            )

    def _listening(self, port: int) -> Callable[[], bool]:
        return lambda: port_open(self.host, port)

    def stop(self) -> None:
        for proc in reversed(self.apps.values()):
            proc.stop()
        self.s3.stop()
        self.temporal.stop()

    def describe(self) -> list[str]:
        lines = [self.temporal.describe(), self.s3.describe()]
        lines += [f"{m}: {self.service_address(k)} (gRPC, reflection on)" for k, m in SERVICES.items()]
        lines.append(
            f"payment simulator: http://{self.host}:{self.ports.provider} (refund webhooks to :{self.ports.refund_webhook})"
        )
        lines.append(
            "metrics (Prometheus): " + ", ".join(f"{k.lower()} {self.metrics_url(k)}" for k in METRICS)
        )
        lines.append(
            f"workers: task queues 'orders', 'disputes' and 'refunds'; new disputes use policy {self.dispute_policy}; logs in {self.data_dir / 'logs'}"
        )
        return lines

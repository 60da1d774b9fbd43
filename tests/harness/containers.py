"""Temporal and MinIO as containers (testcontainers), for machines with a Docker engine.

Host ports are fixed per run and data lives in bind-mounted folders, so a container can be
stopped and started again on the same SQLite file and address (the restart test relies on it).
The images are the ones `make images` built here (deploy/images.py), or the official ones a
DP_*_IMAGE variable names.
"""

from __future__ import annotations

import os
from pathlib import Path

from testcontainers.core.container import DockerContainer

from deploy.images import read_manifest
from deploy.processes import port_open, wait_until
from deploy.stack import Ports, Secrets
from platform_common.search_attributes import cli_flags

_IMAGES = read_manifest()
TEMPORAL_IMAGE = _IMAGES.get("DP_TEMPORAL_IMAGE", "temporalio/temporal:1.5.1")
MINIO_IMAGE = _IMAGES.get("DP_MINIO_IMAGE", "minio/minio:RELEASE.2025-04-22T22-12-26Z")
POSTGRES_IMAGE = _IMAGES.get("DP_POSTGRES_IMAGE", "postgres:16")


def writable(folder: Path) -> Path:
    """A bind-mounted folder the container's unprivileged user can write (it is not this one)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777)
    return folder


class TemporalContainer:
    name = "temporal"

    def __init__(self, data_dir: Path, ports: Ports) -> None:
        self.dir = writable(data_dir / "temporal-container")
        self.ports = ports
        self._c: DockerContainer | None = None

    def start(self) -> None:
        self._c = (
            DockerContainer(TEMPORAL_IMAGE)
            .with_command(
                [
                    "server",
                    "start-dev",
                    "--ip",
                    "0.0.0.0",
                    "--db-filename",
                    "/data/temporal.db",
                    *cli_flags(),
                ]
            )
            .with_bind_ports(7233, self.ports.temporal)
            .with_bind_ports(8233, self.ports.temporal_ui)
            .with_volume_mapping(str(self.dir), "/data", "rw")
        )
        self._c.start()
        wait_until(lambda: port_open("127.0.0.1", self.ports.temporal), "Temporal container", 120)

    def stop(self) -> None:
        if self._c is not None:
            self._c.stop()
            self._c = None

    def address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    def describe(self) -> str:
        return f"Temporal container {TEMPORAL_IMAGE} at {self.address()}"


class MinioContainer:
    name = "s3"

    def __init__(self, data_dir: Path, ports: Ports, creds: Secrets) -> None:
        self.dir = writable(data_dir / "minio-container")
        self.ports, self.creds = ports, creds
        self._c: DockerContainer | None = None

    def start(self) -> None:
        self._c = (
            DockerContainer(MINIO_IMAGE)
            .with_command(["server", "/data", "--address", ":9000", "--console-address", ":9001"])
            .with_env("MINIO_ROOT_USER", self.creds.s3_access_key)
            .with_env("MINIO_ROOT_PASSWORD", self.creds.s3_secret_key)
            .with_bind_ports(9000, self.ports.s3)
            .with_bind_ports(9001, self.ports.s3_console)
            .with_volume_mapping(str(self.dir), "/data", "rw")
        )
        self._c.start()
        wait_until(lambda: port_open("127.0.0.1", self.ports.s3), "MinIO container", 120)

    def stop(self) -> None:
        if self._c is not None:
            self._c.stop()
            self._c = None

    def address(self) -> str:
        return f"127.0.0.1:{self.ports.s3}"

    def describe(self) -> str:
        return f"MinIO container {MINIO_IMAGE} at {self.address()}"

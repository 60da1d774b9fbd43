"""Choose where Temporal and S3 come from for a test run.

DP_TEST_INFRA=docker forces testcontainers (and fails if no engine answers); DP_TEST_INFRA=local
forces local processes; unset, a real ping to the Docker engine decides. The decision is printed
in the test header, so a run never silently uses the other mode.
"""

from __future__ import annotations

import os
from pathlib import Path

from deploy.stack import Infra, Ports, Secrets


def docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def infra_mode() -> str:
    forced = os.environ.get("DP_TEST_INFRA", "").strip().lower()
    if forced == "docker":
        if not docker_engine_answers():
            where = os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
            raise RuntimeError(
                f"DP_TEST_INFRA=docker, but no Docker engine answers a ping at {where}: start one"
                " (as root, ./scripts/docker_engine.sh installs and starts dockerd), or run with"
                " DP_TEST_INFRA=local. Docker mode never falls back to local processes."
            )
        return "docker"
    if forced == "local":
        return "local"
    if forced:
        raise RuntimeError(f"DP_TEST_INFRA must be 'docker' or 'local', got {forced!r}")
    return "docker" if docker_engine_answers() else "local"


def container_infra(data_dir: Path, ports: Ports, creds: Secrets) -> tuple[Infra, Infra]:
    from tests.harness.containers import MinioContainer, TemporalContainer

    return TemporalContainer(data_dir, ports), MinioContainer(data_dir, ports, creds)

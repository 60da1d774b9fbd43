"""Fixtures that start real stacks: Temporal, S3, the four services and the worker."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from deploy.stack import Ports, Secrets, Stack
from tests.harness.infra import container_infra, infra_mode
from tests.harness.postgres import container_postgres, local_postgres

# The platform's one "day" in the real-time stack (DP_DAY_SECONDS), for every domain: the
# seller's 15 days last 7.5 s, opening is possible 2.5 s after shipment, a 10-day protection
# window lasts 5 s. New disputes carry it in their policy version ("2026-11-standard@0.5s").
DAY_SECONDS = 0.5
# Timers of the platform's own housekeeping, shortened so tests see their effect in seconds.
TEST_ENV = {
    "DP_EVIDENCE_IDLE_SECONDS": "3",
    "DP_OPENING_RECONCILE_SECONDS": "1",
    "DP_REFUND_RECOVERY_SECONDS": "2",
    # Webhook receivers in tests listen on 127.0.0.1 over plain http (a local address).
    "DP_WEBHOOK_ALLOW_LOCAL": "1",
}

_MODE: str | None = None


def mode() -> str:
    global _MODE
    if _MODE is None:
        _MODE = infra_mode()
        if _MODE == "docker":
            # testcontainers' reaper is an image from a registry; the harness stops its own.
            os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    return _MODE


def pytest_configure(config: pytest.Config) -> None:
    """A forced mode is checked before any test runs: one clear error instead of one per test."""
    if os.environ.get("DP_TEST_INFRA", "").strip():
        try:
            mode()
        except RuntimeError as refused:
            raise pytest.UsageError(str(refused)) from None


def pytest_report_header() -> str:
    return f"dispute-platform test infrastructure: {mode()} (set DP_TEST_INFRA=docker|local to force)"


def make_stack(data_dir: Path, day_seconds: float) -> Stack:
    ports = Ports.random()
    if mode() == "docker":
        temporal, s3 = container_infra(data_dir, ports, Secrets.load_or_create(data_dir))
        return Stack(
            data_dir,
            ports,
            day_seconds=day_seconds,
            temporal=temporal,
            s3=s3,
            extra_env=TEST_ENV,
        )
    return Stack(data_dir, ports, day_seconds=day_seconds, extra_env=TEST_ENV)


async def connect_temporal(address: str, timeout: float = 60.0) -> Client:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(tmp_path_factory.mktemp("stack"), DAY_SECONDS)
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
async def temporal_client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect_temporal(stack.temporal.address())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the stores' second backend."""
    if mode() == "docker":
        with container_postgres() as url:
            yield url
    else:
        with local_postgres() as url:
            yield url

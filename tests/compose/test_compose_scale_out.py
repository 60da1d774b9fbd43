"""deploy/compose.yaml brought up for real: the Temporal server on PostgreSQL, MinIO, a PostgreSQL
per service, two replicas of every service and worker. 20 disputes are driven from checkout to
the refund while one replica of each service and each worker is killed (and started again); every
dispute must close refunded, with exactly one refund.

Not part of `make test`'s default selection (`-m compose`, run by `make compose-test`): it needs
a Docker engine, `make images` and a compose client, and takes a few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc
import pytest
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from deploy.binaries import cache_dir
from deploy.images import read_manifest
from deploy.stack import Stack
from tests.integration.conftest import Api
from tests.integration.test_dispute_events_chaos import drive, patiently

pytestmark = pytest.mark.compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
DISPUTES = 20
# The chaos test's day: the seller's window outlasts the outages on a loaded machine.
DAY_SECONDS = 3.0
SERVICES = ("order-svc", "dispute-svc", "evidence-svc", "refund-svc")
WORKERS = ("worker-orders", "worker-disputes", "worker-refunds")
# The gRPC port of each service in its containers; the host port of a replica is discovered.
GRPC = {"order-svc": 50051, "dispute-svc": 50052, "evidence-svc": 50053, "refund-svc": 50054}
CHANNEL = {"order-svc": "ORDER", "dispute-svc": "DISPUTE", "evidence-svc": "EVIDENCE", "refund-svc": "REFUND"}
SECRETS = (
    "DP_JWT_SECRET",
    "DP_S3_SECRET_KEY",
    "DP_ORDER_DB_PASSWORD",
    "DP_DISPUTE_DB_PASSWORD",
    "DP_REFUND_DB_PASSWORD",
    "DP_EVIDENCE_DB_PASSWORD",
    "DP_PROVIDER_API_KEY",
    "DP_PROVIDER_WEBHOOK_SECRET",
    "TEMPORAL_DB_PASSWORD",
)


def compose_command() -> list[str]:
    """`docker compose` (the plugin, deploy/images.py ensure_compose) if it answers, else Debian's `docker-compose`."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


@dataclass
class Deployment:
    project: str
    env: dict[str, str]

    def run(self, *args: str, capture: bool = False) -> str:
        cmd = [*compose_command(), "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        done = subprocess.run(cmd, env=self.env, check=True, capture_output=capture, text=True)
        return done.stdout if capture else ""

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-q", service, capture=True).split()

    def host_ports(self, service: str) -> list[int]:
        """The host port of each replica of the service (from its published range)."""
        ports = []
        for index in range(1, len(self.containers(service)) + 1):
            out = self.run("port", "--index", str(index), service, str(GRPC[service]), capture=True)
            ports.append(int(out.strip().rsplit(":", 1)[1]))
        return ports


def leftovers() -> None:
    """Projects of earlier runs that were cut short: they hold the fixed host ports, and their
    containers come back with dockerd (restart: unless-stopped)."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for project in sorted({p for p in listed if p.startswith("dp-e2e-")}):
        subprocess.run(
            [*compose_command(), "-p", project, "-f", str(COMPOSE_FILE), "down", "-v", "--timeout", "3"],
            capture_output=True,
            check=False,
            env={**os.environ, **_dummy_secrets()},
        )


def _dummy_secrets() -> dict[str, str]:
    """compose refuses to read the file without its secrets, even to take a project down."""
    return {name: "x" for name in SECRETS} | {"DP_S3_ACCESS_KEY": "x"}


@dataclass(frozen=True)
class _Secrets:
    jwt_secret: str


@dataclass(frozen=True)
class _Shim:
    """What Api needs of a Stack: the JWT secret the deployment was given."""

    secrets: _Secrets


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    leftovers()
    # The images `make images` resolved for this checkout (not whatever :local points at).
    env = {**os.environ, **read_manifest(), "DP_DAY_SECONDS": str(DAY_SECONDS), "DP_REPLICAS": "2"}
    for name in SECRETS:
        env[name] = secrets.token_urlsafe(32)
    env["DP_S3_ACCESS_KEY"] = "dp-" + secrets.token_hex(6)
    d = Deployment(f"dp-e2e-{uuid.uuid4().hex[:6]}", env)
    try:
        d.run("up", "-d", "--wait", "--wait-timeout", "300")
        yield d
    finally:
        # Every container's log, for a failure's post-mortem, before the project is removed.
        logs = cache_dir() / f"{d.project}.log"
        with contextlib.suppress(subprocess.CalledProcessError):
            logs.write_text(d.run("logs", "--no-color", capture=True))
            print(f"compose logs: {logs}")
        d.run("down", "-v", "--timeout", "5")


async def kill_one_of_each(d: Deployment, stop: asyncio.Event, killed: list[str]) -> None:
    """One replica of each service and worker killed, in a random order a few seconds apart,
    each started again after a random pause. The test's clients spread their calls over every
    replica of a service (and the workers all poll their task queue), so each kill lands on
    traffic."""
    rng = random.Random()
    for service in rng.sample([*SERVICES, *WORKERS], len(SERVICES) + len(WORKERS)):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(2.0, 5.0))
        if stop.is_set():
            return
        victim = rng.choice(d.containers(service))
        await asyncio.to_thread(subprocess.run, ["docker", "kill", victim], check=True, capture_output=True)
        killed.append(service)
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await asyncio.to_thread(subprocess.run, ["docker", "start", victim], check=True, capture_output=True)


@pytest.mark.timeout(1200)
async def test_twenty_disputes_each_get_one_refund_while_replicas_die(deployment: Deployment) -> None:
    for service in (*SERVICES, *WORKERS):
        assert len(deployment.containers(service)) == 2, f"{service} runs two replicas"
    # Each client spreads its calls over every replica of the service (round robin), as a
    # platform service behind a load balancer would; a replica that restarts may come back on
    # another port of the range, and the others carry on meanwhile.
    channels = {
        CHANNEL[s]: grpc.aio.insecure_channel(
            "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in deployment.host_ports(s)),
            options=[("grpc.lb_policy_name", "round_robin")],
        )
        for s in GRPC
    }
    try:
        shim = _Shim(_Secrets(deployment.env["DP_JWT_SECRET"]))
        api = Api(cast(Stack, shim), orders_pb2_grpc.OrderServiceStub(channels["ORDER"]), channels)
        stub = disputes_pb2_grpc.DisputeServiceStub(channels["DISPUTE"])
        stop, killed = asyncio.Event(), list[str]()
        chaos = asyncio.create_task(kill_one_of_each(deployment, stop, killed))
        try:
            ids = await asyncio.wait_for(asyncio.gather(*(drive(api, stub, n) for n in range(DISPUTES))), 600)
            # Every kill happens (a fast platform must not end the chaos early).
            await asyncio.wait_for(asyncio.shield(chaos), 300)
            finals = []
            for dispute_id in ids:
                for _ in range(600):
                    request = pb.GetDisputeRequest(dispute_id=dispute_id)
                    got = await patiently(
                        lambda r=request: stub.GetDispute(r, metadata=api.service(), timeout=10)  # type: ignore[misc]
                    )
                    assert got is not None
                    if got.dispute.status == pb.DISPUTE_STATUS_CLOSED_REFUNDED:
                        finals.append(got.dispute)
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError(f"dispute {dispute_id} never closed refunded")
        finally:
            stop.set()
            await chaos
        # One refund per dispute, as the dispute says and as RefundService's ledger says.
        refunds_stub = refunds_pb2_grpc.RefundServiceStub(channels["REFUND"])
        refunds = {}
        for d in finals:
            listed = await patiently(
                lambda d=d: refunds_stub.ListRefunds(  # type: ignore[misc]
                    refunds_pb2.ListRefundsRequest(order_id=d.order_id), metadata=api.service(), timeout=10
                )
            )
            assert listed is not None
            assert [r.amount.minor_units for r in listed.refunds] == [1_500], d.dispute_id
            assert list(d.refund_ids) == [r.refund_id for r in listed.refunds], d.dispute_id
            refunds[d.dispute_id] = len(listed.refunds)
        print(
            json.dumps(
                {
                    "replicas_killed": killed,
                    "disputes_completed": len(finals),
                    "refunds_per_dispute": sorted(set(refunds.values())),
                }
            )
        )
        assert set(killed) == {*SERVICES, *WORKERS}, f"one replica of each was killed: {killed}"
        assert len(finals) == DISPUTES
        assert all(n == 1 for n in refunds.values()), refunds
        assert all(d.refunded_amount.minor_units == 1_500 for d in finals)
    finally:
        for ch in channels.values():
            await ch.close()

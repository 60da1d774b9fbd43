"""dpctl against the real stack: every command, its --json output against what the RPC itself
answers, its tables, and its refusals as one line with code, message and dp-error-reason.

dpctl reads the stack's addresses and secret from a dev.env written exactly as `make up` writes
it (the parent environment's DP_* variables are removed, so nothing leaks in from a developer's
shell). Most calls run in-process (typer's CliRunner); the upload, the events stream, the token
and refusals also run the installed console script `.venv/bin/dpctl` as a subprocess, which
proves the script bootstrap writes works and that no traceback reaches the terminal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc
from typer.testing import CliRunner, Result

from deploy.stack import Stack
from operator_cli.app import app
from platform_common.auth import ALL_APIS, DISPUTE_API, ISSUER, Role
from tests.harness.evidence import MB, Generated
from tests.integration.conftest import Api, open_api
from tests.integration.disputes_api import Case, disputable, disputes, escalated, eventually

DPCTL = Path(sys.executable).parent / "dpctl"
UPLOAD_BYTES = 50 * MB
ARBITER, OTHER_ARBITER = "arb-cli-ana", "arb-cli-bo"


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


_DEFAULT_SIGINT_EXEC = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    env_file: Path

    def overrides(self) -> dict[str, str | None]:
        """In-process: the dev.env only, whatever the test process's environment holds."""
        cleared = {k: None for k in os.environ if k.startswith(("DP_", "DPCTL_"))}
        return {**cleared, "DPCTL_ENV_FILE": str(self.env_file), "COLUMNS": "200"}

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Ran:
        result: Result = CliRunner().invoke(app, list(args), env={**self.overrides(), **(env or {})})
        assert "Traceback" not in result.output, result.output
        return Ran(result.exit_code, result.stdout, result.stderr)

    def json(self, *args: str) -> Any:
        ran = self.run("--json", *args)
        assert ran.code == 0, ran.stderr
        return json.loads(ran.stdout)

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DP_", "DPCTL_"))}
        return {**env, "DPCTL_ENV_FILE": str(self.env_file), "COLUMNS": "200"}

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        assert DPCTL.exists(), f"{DPCTL} is missing: scripts/bootstrap.sh installs the console script"
        # Ctrl-C as in a terminal: a background job (CI's docker pass) starts its children with
        # SIGINT ignored, and the test's SIGINT would do nothing. A tiny exec wrapper restores it
        # (not preexec_fn: forking this gRPC-threaded process that way broke the child's gRPC).
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _DEFAULT_SIGINT_EXEC,
            DPCTL,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.process_env(),
        )

    async def process(self, *args: str, timeout: float = 60) -> Ran:
        proc = await self.spawn(*args)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        ran = Ran(proc.returncode or 0, out.decode(), err.decode())
        assert "Traceback" not in ran.stderr, ran.stderr
        return ran


def one_line(ran: Ran) -> str:
    """A refusal: exit status 1, exactly one line on stderr, nothing on stdout."""
    lines = ran.stderr.strip().splitlines()
    assert ran.code == 1 and len(lines) == 1 and ran.stdout == "", ran
    return lines[0]


@dataclass
class Desk:
    api: Api
    cli: Cli
    # Two disputes under arbitration, each with its own order, buyer and seller.
    asked: pb.Dispute
    decided: pb.Dispute
    cases: dict[str, Case]

    def auth(self, subject: str, role: Role) -> list[tuple[str, str]]:
        return self.api.auth(subject, role)


@pytest.fixture(scope="module")
async def desk(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    env_file = tmp_path_factory.mktemp("dpctl") / "dev.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in stack.app_env().items()))  # as the launcher does
    async with open_api(stack) as api:
        cases = await disputable(api, 2)
        asked, decided = [await escalated(api, c, description="Ordered black, received grey.") for c in cases]
        yield Desk(
            api,
            Cli(env_file),
            asked,
            decided,
            {d.dispute_id: c for d, c in zip((asked, decided), cases, strict=True)},
        )


async def agrees(rpc: Callable[[], Awaitable[Message]], shown: Callable[[], Any]) -> Any:
    """dpctl's JSON is what the RPC answers. Timers keep changing disputes on a 0.5 s day, so the
    answer must equal the RPC's just before or just after (retried if both moved on)."""
    for _ in range(3):
        before = as_dict(await rpc())
        printed = shown()
        after = as_dict(await rpc())
        if printed in (before, after):
            return printed
    raise AssertionError(f"dpctl printed {printed}, the RPC answered {before} then {after}")


async def test_disputes_list_and_show_print_what_the_api_answers(desk: Desk) -> None:
    stub, support = disputes(desk.api), desk.api.service()
    d = desk.asked

    def listed(**fields: Any) -> Callable[[], Awaitable[Message]]:
        return lambda: stub.ListDisputes(pb.ListDisputesRequest(**fields), metadata=support)

    mine = await agrees(
        listed(buyer_id=d.buyer_id),
        lambda: desk.cli.json("--as", "service:support", "disputes", "list", "--buyer", d.buyer_id),
    )
    assert [x["dispute_id"] for x in mine["disputes"]] == [d.dispute_id]
    # Filters reach the RPC: a status the dispute is not in, then the one it is in, and paging.
    none = desk.cli.json(
        "--as", "service:support", "disputes", "list", "--buyer", d.buyer_id, "--status", "closed_cancelled"
    )
    assert none == {}
    by_status = await agrees(
        listed(seller_id=d.seller_id, status=pb.DISPUTE_STATUS_UNDER_ARBITRATION),
        lambda: desk.cli.json(
            "--as", "service:support", "disputes", "list", "--seller", d.seller_id, "--status", "under_arbitration"
        ),
    )  # fmt: skip
    assert all(x["status"] == "DISPUTE_STATUS_UNDER_ARBITRATION" for x in by_status.get("disputes", []))
    first = await agrees(
        listed(seller_id=d.seller_id, page=common_pb2.PageRequest(page_size=1)),
        lambda: desk.cli.json(
            "--as", "service:support", "disputes", "list", "--seller", d.seller_id, "--page-size", "1"
        ),
    )
    assert len(first["disputes"]) == 1 and "next_page_token" not in first  # one dispute, one page
    first = desk.cli.json("--as", "service:support", "disputes", "list", "--page-size", "1")
    assert len(first["disputes"]) == 1 and first["next_page_token"]
    second = desk.cli.json(
        "--as",
        "service:support",
        "disputes",
        "list",
        "--page-size",
        "1",
        "--page-token",
        first["next_page_token"],
    )
    assert second["disputes"][0]["dispute_id"] != first["disputes"][0]["dispute_id"]

    table = desk.cli.run("--as", "service:support", "disputes", "list", "--buyer", d.buyer_id)
    assert table.code == 0 and d.dispute_id in table.stdout and "129.99 EUR" in table.stdout

    shown = await agrees(
        lambda: stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=support),
        lambda: desk.cli.json("--as", "service:support", "disputes", "show", d.dispute_id),
    )
    assert shown["dispute"]["dispute_id"] == d.dispute_id and shown["dispute"]["buyer_id"] == d.buyer_id
    page = desk.cli.run("--as", f"buyer:{d.buyer_id}", "disputes", "show", d.dispute_id)
    assert page.code == 0, page.stderr
    for words in (d.dispute_id, "Deadlines", "ARBITRATION_MAX", "Timeline", "ESCALATED", "Ordered black"):
        assert words in page.stdout, words
    assert " ago" in page.stdout or "in " in page.stdout  # deadlines in words


async def test_the_arbitration_desk_queue_claim_request_info_decide_refund_order(desk: Desk) -> None:
    stub, api = disputes(desk.api), desk.api
    ana = f"arbiter:{ARBITER}"
    asked, decided = desk.asked, desk.decided
    ours = {asked.dispute_id, decided.dispute_id}

    def queue(which: int) -> Callable[[], Awaitable[Message]]:
        return lambda: stub.ListArbitrationQueue(
            pb.ListArbitrationQueueRequest(filter=which, page=common_pb2.PageRequest(page_size=100)),
            metadata=api.auth(ARBITER, Role.ARBITER),
        )

    def queued(*flags: str) -> set[str]:
        """Every page, by dpctl's own --page-token (a session's other tests fill the queue too)."""
        ids: set[str] = set()
        token = ""
        while True:
            listed = desk.cli.json("--as", ana, "queue", *flags, "--page-size", "100", "--page-token", token)
            ids |= {e["dispute"]["dispute_id"] for e in listed.get("entries", [])}
            token = listed.get("next_page_token", "")
            if not token:
                return ids

    async def waiting() -> bool:
        return ours <= queued("--unassigned")

    await eventually(waiting, 15, "both disputes in the unassigned queue")
    unassigned = await agrees(
        queue(pb.ARBITRATION_QUEUE_FILTER_UNASSIGNED),
        lambda: desk.cli.json("--as", ana, "queue", "--unassigned", "--page-size", "100"),
    )
    assert unassigned["counts"]["waiting"] >= 2 and unassigned["counts"]["unassigned"] >= 2
    await agrees(
        queue(pb.ARBITRATION_QUEUE_FILTER_BREACHED),
        lambda: desk.cli.json("--as", ana, "queue", "--breached", "--page-size", "100"),
    )

    claimed = desk.cli.json("--as", ana, "claim", asked.dispute_id)
    assert claimed["dispute"]["arbiter_id"] == ARBITER
    # The other arbiter loses the race: one line with the code, the message and the reason.
    lost = one_line(await desk.cli.process("--as", f"arbiter:{OTHER_ARBITER}", "claim", asked.dispute_id))
    assert lost.startswith("dpctl: FAILED_PRECONDITION: ") and ARBITER in lost
    assert lost.endswith("(dp-error-reason: ALREADY_ASSIGNED)"), lost
    said = desk.cli.run("--as", ana, "claim", decided.dispute_id)
    assert said.code == 0 and f"claimed: assigned to {ARBITER}" in said.stdout

    async def mine() -> bool:
        return ours <= queued("--mine")

    await eventually(mine, 15, "both claims in the arbiter's queue")
    board = desk.cli.run("--as", ana, "queue", "--mine")
    assert board.code == 0 and "Arbitration queue" in board.stdout and "waiting" in board.stdout
    assert asked.dispute_id in board.stdout and decided.dispute_id in board.stdout
    assert "ARBITRATION_" in board.stdout  # each row's first SLA deadline, in words

    question = "Which tracking number did the replacement ship with?"
    info = desk.cli.json(
        "--as", ana, "request-info", asked.dispute_id, "--to", "seller", "--question", question
    )
    request = info["dispute"]["information_requests"][-1]
    assert (request["question"], request["addressed_to"]) == (question, "PARTY_SELLER")
    assert info["dispute"]["status"] == "DISPUTE_STATUS_AWAITING_INFORMATION"
    # Another arbiter's decision is refused by the workflow: one line, exit status 1. (Not the
    # open request's refusal: on a 0.5 s day its window may close before the next call.)
    other = "arbiter:arb-other"
    blocked = desk.cli.run("--as", other, "decide", asked.dispute_id, "--refund", "10", "--rationale", "x")
    assert blocked.code == 1 and blocked.stdout == ""
    assert blocked.stderr.strip() == f"dpctl: PERMISSION_DENIED: the dispute is assigned to arbiter {ARBITER}"

    ruling = desk.cli.json(
        "--as",
        ana,
        "decide",
        decided.dispute_id,
        "--refund",
        "40.00",
        "--rationale",
        "The photos show a grey item.",
    )
    decision = ruling["dispute"]["decisions"][-1]
    assert decision["refund_amount"] == {"minor_units": "4000", "currency": "EUR"}
    assert decision["arbiter_id"] == ARBITER and ruling["dispute"]["status"] == "DISPUTE_STATUS_DECIDED"

    buyer = desk.cases[decided.dispute_id].buyer
    refund_ids: list[str] = []

    async def refunded() -> bool:
        got = await stub.GetDispute(
            pb.GetDisputeRequest(dispute_id=decided.dispute_id), metadata=api.service()
        )
        refund_ids[:] = list(got.dispute.refund_ids)
        return bool(refund_ids)

    await eventually(refunded, 20, "the decision's refund")
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    shown_refund = await agrees(
        lambda: refunds.GetRefund(
            refunds_pb2.GetRefundRequest(refund_id=refund_ids[0]), metadata=api.auth(buyer, Role.BUYER)
        ),
        lambda: desk.cli.json("--as", f"buyer:{buyer}", "refunds", "show", refund_ids[0]),
    )
    assert shown_refund["refund"]["amount"] == {"minor_units": "4000", "currency": "EUR"}
    refund_table = desk.cli.run("--as", f"buyer:{buyer}", "refunds", "show", refund_ids[0])
    assert (
        refund_table.code == 0
        and "40.00 EUR" in refund_table.stdout
        and "Status history" in refund_table.stdout
    )

    order_id = decided.order_id
    shown_order = await agrees(
        lambda: api.orders.GetOrder(
            orders_pb2.GetOrderRequest(order_id=order_id), metadata=api.auth(buyer, Role.BUYER)
        ),
        lambda: desk.cli.json("--as", f"buyer:{buyer}", "orders", "show", order_id),
    )
    assert shown_order["order"]["order_id"] == order_id
    order_table = desk.cli.run("--as", f"buyer:{buyer}", "orders", "show", order_id)
    assert order_table.code == 0 and "Escrow" in order_table.stdout and "129.99 EUR" in order_table.stdout


async def test_a_50_mb_upload_streams_with_progress_to_100_percent_and_downloads_identical(
    desk: Desk, tmp_path: Path
) -> None:
    d, buyer = desk.asked, desk.cases[desk.asked.dispute_id].buyer
    evidence = evidence_pb2_grpc.EvidenceServiceStub(desk.api.channels["EVIDENCE"])
    video = Generated("video/mp4", UPLOAD_BYTES)
    clip = tmp_path / "unboxing.mp4"
    with clip.open("wb") as f:
        for chunk in video.chunks():
            f.write(chunk)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()

    async def registered() -> bool:  # the workflow registers its dispute with EvidenceService
        try:
            await evidence.ListEvidence(
                evidence_pb2.ListEvidenceRequest(dispute_id=d.dispute_id),
                metadata=desk.auth(buyer, Role.BUYER),
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
            return False
        return True

    await eventually(registered, 15, "the dispute known to EvidenceService")
    sent = await desk.cli.process(
        "--json", "--as", f"buyer:{buyer}", "evidence", "upload", str(clip), "--dispute", d.dispute_id
    )
    assert sent.code == 0, sent.stderr
    record = json.loads(sent.stdout)
    assert record["bytes_sent"] == UPLOAD_BYTES
    uploaded = record["evidence"]
    assert (uploaded["size_bytes"], uploaded["sha256"]) == (str(UPLOAD_BYTES), digest)
    assert (uploaded["dispute_id"], uploaded["kind"]) == (d.dispute_id, "EVIDENCE_KIND_VIDEO")
    # The bar (stderr) ended full: every byte, and the rate.
    assert "100%" in sent.stderr and "50.0/50.0 MiB" in sent.stderr and "/s" in sent.stderr, sent.stderr
    stored = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=uploaded["evidence_id"]), metadata=desk.api.service()
    )
    for key in ("evidence_id", "sha256", "size_bytes", "filename", "content_type", "uploader", "dispute_id"):
        assert uploaded[key] == as_dict(stored.evidence)[key], key

    back = tmp_path / "back.mp4"
    got = desk.cli.run(
        "--json",
        "--as",
        f"arbiter:{ARBITER}",
        "evidence",
        "download",
        uploaded["evidence_id"],
        "-o",
        str(back),
    )
    assert got.code == 0, got.stderr
    assert json.loads(got.stdout)["bytes_received"] == UPLOAD_BYTES
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    assert "100%" in got.stderr
    again = desk.cli.run(
        "--as", f"buyer:{buyer}", "evidence", "download", uploaded["evidence_id"], "-o", str(back)
    )
    assert again.code == 2 and "exists" in again.stderr  # never overwrites without --force
    missing = desk.cli.run(
        "--as", f"buyer:{buyer}", "evidence", "download", str(uuid.uuid4()), "-o", str(tmp_path / "x")
    )
    assert one_line(missing).startswith("dpctl: NOT_FOUND: evidence ")
    assert not list(tmp_path.glob("x*"))  # nothing half-written is left

    # A file that is not evidence: the server's refusal, in one line.
    note = tmp_path / "note.txt"
    note.write_bytes(b"this is only a text file, not a photo\n")
    refused = desk.cli.run(
        "--as", f"buyer:{buyer}", "evidence", "upload", str(note), "--dispute", d.dispute_id
    )
    assert one_line(refused).startswith("dpctl: INVALID_ARGUMENT: content type 'text/plain' is not accepted")


async def test_events_tail_pages_follows_live_and_stops_on_ctrl_c(desk: Desk) -> None:
    d, buyer = desk.asked, desk.cases[desk.asked.dispute_id].buyer
    stub = disputes(desk.api)
    feed = await stub.ListDisputeEvents(
        pb.ListDisputeEventsRequest(dispute_id=d.dispute_id, page_size=500), metadata=desk.api.service()
    )
    ran = desk.cli.run(
        "--json", "--as", "service:support", "events", "tail", "--dispute", d.dispute_id, "--once"
    )
    assert ran.code == 0, ran.stderr
    printed = [json.loads(line) for line in ran.stdout.splitlines()]
    assert printed[: len(feed.events)] == [as_dict(e) for e in feed.events]  # and any recorded since
    assert [e["type"] for e in printed[:4]] == [
        "dispute.opened",
        "dispute.seller_responded",
        "dispute.offer_rejected",
        "dispute.escalated",
    ]
    limited = desk.cli.run(
        "--json",
        "--as",
        "service:support",
        "events",
        "tail",
        "--dispute",
        d.dispute_id,
        "--once",
        "--limit",
        "2",
    )
    assert [json.loads(x) for x in limited.stdout.splitlines()] == printed[:2]
    lines = desk.cli.run(
        "--as",
        "service:support",
        "events",
        "tail",
        "--dispute",
        d.dispute_id,
        "--once",
        "--type",
        "dispute.escalated",
    )
    assert (
        lines.code == 0
        and len(lines.stdout.strip().splitlines()) == 1
        and "dispute.escalated" in lines.stdout
    )

    # Follow: the stream is live before anything happens, then prints the new event and stops.
    last = printed[-1]["cursor"]
    tail = await desk.cli.spawn(
        "--json", "--as", "service:support", "events", "tail", "--dispute", d.dispute_id,
        "--after", str(last), "--type", "dispute.message_posted", "--limit", "1",
    )  # fmt: skip
    assert tail.stderr is not None
    ready = await asyncio.wait_for(tail.stderr.readline(), 30)
    assert b"following dispute events" in ready, ready
    text = f"Any news? {uuid.uuid4().hex[:6]}"
    await stub.SendMessage(
        pb.SendMessageRequest(dispute_id=d.dispute_id, request_id=str(uuid.uuid4()), text=text),
        metadata=desk.auth(buyer, Role.BUYER),
    )
    out, err = await asyncio.wait_for(tail.communicate(), 30)
    assert tail.returncode == 0 and b"Traceback" not in err, err
    (event,) = [json.loads(x) for x in out.decode().splitlines()]
    assert event["type"] == "dispute.message_posted" and event["message"]["text"] == text
    assert int(event["cursor"]) > int(last)

    # Without a limit it follows until Ctrl-C, which ends it quietly with status 130.
    endless = await desk.cli.spawn("--as", "service:support", "events", "tail", "--dispute", d.dispute_id)
    assert endless.stderr is not None
    assert b"following" in await asyncio.wait_for(endless.stderr.readline(), 30)
    endless.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(endless.communicate(), 30)
    assert endless.returncode == 130 and b"Traceback" not in err, err
    assert "dispute.escalated" in out.decode()


async def test_a_minted_token_is_accepted_by_a_real_rpc_and_names_its_audience(desk: Desk) -> None:
    d, buyer = desk.asked, desk.cases[desk.asked.dispute_id].buyer
    secret = desk.api.stack.secrets.jwt_secret
    minted = await desk.cli.process("token", "--role", "buyer", "--subject", buyer)
    assert minted.code == 0, minted.stderr
    token = minted.stdout.strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience=DISPUTE_API, issuer=ISSUER)
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == (buyer, "buyer", 3600)
    assert sorted(claims["aud"]) == sorted(ALL_APIS)
    listed = await disputes(desk.api).ListDisputes(
        pb.ListDisputesRequest(buyer_id=buyer), metadata=[("authorization", f"Bearer {token}")]
    )
    assert [x.dispute_id for x in listed.disputes] == [d.dispute_id]
    # The same token given to dpctl, and one for a single API that the others refuse.
    assert desk.cli.json("--token", token, "disputes", "list", "--buyer", buyer) == as_dict(listed)
    narrow = desk.cli.json(
        "token", "--role", "buyer", "--subject", buyer, "--api", "disputes", "--ttl", "600"
    )
    assert narrow["audience"] == [DISPUTE_API]
    refused = desk.cli.run("--token", narrow["token"], "orders", "show", d.order_id)
    assert refused.code == 1 and refused.stderr.startswith(
        "dpctl: UNAUTHENTICATED: token is not meant for orders.v1.OrderService"
    )
    assert desk.cli.run("--token", narrow["token"], "disputes", "show", d.dispute_id).code == 0


async def test_refusals_are_one_line_with_code_message_and_reason(desk: Desk) -> None:
    buyer = desk.cases[desk.asked.dispute_id].buyer
    denied = one_line(await desk.cli.process("--as", f"buyer:{buyer}", "queue"))
    assert denied == f"dpctl: PERMISSION_DENIED: buyer {buyer!r} may not call ListArbitrationQueue"
    unknown = str(uuid.uuid4())
    missing = one_line(await desk.cli.process("--as", "service:support", "disputes", "show", unknown))
    assert missing == f"dpctl: NOT_FOUND: dispute {unknown} not found"
    as_json = one_line(
        await desk.cli.process("--json", "--as", "service:support", "refunds", "show", unknown)
    )
    assert json.loads(as_json) == {
        "error": {"code": "NOT_FOUND", "message": f"refund {unknown} not found", "reason": ""}
    }
    # The environment wins over dev.env: an address exported for one command is the one used.
    closed = desk.cli.run(
        "--as", "service:support", "disputes", "list", env={"DP_DISPUTE_TARGET": "127.0.0.1:1"}
    )
    assert closed.code == 1 and closed.stderr.startswith("dpctl: UNAVAILABLE: ")
    assert closed.stderr.strip().endswith("[disputes.v1.DisputeService at 127.0.0.1:1]")
    wrong_secret = desk.cli.run(
        "--as", "service:support", "disputes", "list", env={"DP_JWT_SECRET": "x" * 40}
    )
    assert wrong_secret.code == 1 and "UNAUTHENTICATED: token signature is invalid" in wrong_secret.stderr

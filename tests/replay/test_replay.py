"""Replay every committed workflow history against today's workflow code.

A failure here means a code change would break in-flight executions: guard it with
`workflow.patched` (see README "Changing a workflow safely"), do not re-record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_webhooks import WebhookDeliveryWorkflow
from order_svc.workflow import OrderProtectionWorkflow
from refund_svc.workflow import RefundWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    assert {p.stem.split("_")[0] for p in HISTORIES} == {"order", "refund", "dispute"}
    assert len(HISTORIES) >= 16


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await Replayer(
        workflows=[OrderProtectionWorkflow, RefundWorkflow, DisputeWorkflow, WebhookDeliveryWorkflow]
    ).replay_workflow(history)

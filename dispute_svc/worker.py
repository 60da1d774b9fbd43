"""The disputes domain's Temporal worker: `python -m dispute_svc.worker` (or `python -m workers disputes`).

It runs DisputeWorkflow and its side effects, which call the other services over gRPC as the
`disputes-worker` identity (freeze the order's clock, seal evidence, issue refunds) and record
the read model in DisputeService. It also runs each webhook subscription's delivery workflow. It shares nothing with the other domains but their protos.
"""

from __future__ import annotations

import grpc
from disputes.v1 import disputes_pb2_grpc
from evidence.v1 import evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from dispute_svc.activities import DisputeActivities, WebhookActivities
from dispute_svc.contract import TASK_QUEUE
from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_webhooks import WebhookDeliveryWorkflow
from platform_common.access import DISPUTES_WORKER
from platform_common.grpc_client import service_channel
from platform_common.worker import run


def build_worker(client: Client, secret: str) -> Worker:
    def channel(key: str) -> grpc.aio.Channel:
        return service_channel(key, DISPUTES_WORKER, secret)

    disputes = disputes_pb2_grpc.DisputeServiceStub(channel("DISPUTE"))
    acts = DisputeActivities(
        orders_pb2_grpc.OrderServiceStub(channel("ORDER")),
        evidence_pb2_grpc.EvidenceServiceStub(channel("EVIDENCE")),
        refunds_pb2_grpc.RefundServiceStub(channel("REFUND")),
        disputes,
    )
    hooks = WebhookActivities(disputes)
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[DisputeWorkflow, WebhookDeliveryWorkflow],
        activities=[
            acts.freeze_order,
            acts.unfreeze_order,
            acts.set_legal_hold,
            acts.attach_evidence,
            acts.issue_refund,
            acts.refund_statuses,
            acts.record_dispute_state,
            hooks.deliver_webhooks,
            hooks.disable_webhook,
        ],
    )


if __name__ == "__main__":
    run("disputes", build_worker)

"""The refunds domain's Temporal worker: `python -m refund_svc.worker` (or `python -m workers refunds`).

It runs RefundWorkflow and the activities that talk to the payment provider (its HTTP API, key
from the environment) and report to RefundService as the `refunds-worker` identity.
"""

from __future__ import annotations

from refunds.v1 import refunds_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from platform_common.access import REFUNDS_WORKER
from platform_common.config import env
from platform_common.grpc_client import service_channel
from platform_common.worker import run
from refund_svc.activities import RefundActivities
from refund_svc.contract import TASK_QUEUE
from refund_svc.provider.adapter import HttpPaymentProvider
from refund_svc.workflow import RefundWorkflow


def build_worker(client: Client, secret: str) -> Worker:
    channel = service_channel("REFUND", REFUNDS_WORKER, secret)
    provider = HttpPaymentProvider(env("DP_PROVIDER_URL"), env("DP_PROVIDER_API_KEY"))
    refunds = RefundActivities(provider, refunds_pb2_grpc.RefundServiceStub(channel))
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RefundWorkflow],
        activities=[refunds.submit_refund, refunds.poll_refund, refunds.record_refund_status],
    )


if __name__ == "__main__":
    run("refunds", build_worker)

"""The orders domain's Temporal worker: `python -m order_svc.worker` (or `python -m workers orders`).

It runs OrderProtectionWorkflow and the activities that report the clock back to OrderService,
calling it as the `orders-worker` identity, which may call only those internal RPCs.
"""

from __future__ import annotations

from orders.v1 import orders_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from order_svc.activities import OrderActivities
from order_svc.contract import TASK_QUEUE
from order_svc.workflow import OrderProtectionWorkflow
from platform_common.access import ORDERS_WORKER
from platform_common.grpc_client import service_channel
from platform_common.worker import run


def build_worker(client: Client, secret: str) -> Worker:
    orders = OrderActivities(
        orders_pb2_grpc.OrderServiceStub(service_channel("ORDER", ORDERS_WORKER, secret))
    )
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[OrderProtectionWorkflow],
        activities=[orders.complete_order, orders.record_protection],
    )


if __name__ == "__main__":
    run("orders", build_worker)

"""Every service is up with health and reflection; RPCs of later milestones authenticate, then
answer UNIMPLEMENTED; the S3 endpoint is a real server with object lock."""

from __future__ import annotations

import io
import uuid

import grpc
import pytest
from disputes.v1 import disputes_pb2, disputes_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from minio import Minio
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from deploy.stack import Stack
from platform_common.auth import Role
from tests.integration.conftest import Api

SERVICES = {
    "ORDER": "orders.v1.OrderService",
    "DISPUTE": "disputes.v1.DisputeService",
    "EVIDENCE": "evidence.v1.EvidenceService",
    "REFUND": "refunds.v1.RefundService",
}


@pytest.mark.parametrize("key", list(SERVICES))
async def test_health_and_reflection_without_a_token(api: Api, key: str) -> None:
    channel = api.channels[key]
    health = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICES[key])
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    names: list[str] = []
    async for resp in stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    ):
        names += [s.name for s in resp.list_services_response.service]
    assert SERVICES[key] in names


async def test_every_service_authenticates_then_checks_the_role(api: Api) -> None:
    disputes = disputes_pb2_grpc.DisputeServiceStub(api.channels["DISPUTE"])
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    buyer = api.auth("b-1", Role.BUYER)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await disputes.OpenDispute(disputes_pb2.OpenDisputeRequest(), metadata=[])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await refunds.IssueRefund(refunds_pb2.IssueRefundRequest(), metadata=buyer)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # sellers do not open disputes
        await disputes.OpenDispute(disputes_pb2.OpenDisputeRequest(), metadata=api.auth("s-1", Role.SELLER))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # authenticated and allowed: the input is checked
        await disputes.OpenDispute(disputes_pb2.OpenDisputeRequest(), metadata=buyer)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_s3_endpoint_is_a_real_server_with_object_lock(stack: Stack) -> None:
    client = Minio(
        stack.s3.address(),
        access_key=stack.secrets.s3_access_key,
        secret_key=stack.secrets.s3_secret_key,
        secure=False,
    )
    bucket = f"probe-{uuid.uuid4().hex[:12]}"
    client.make_bucket(bucket_name=bucket, object_lock=True)
    body = b"unboxing video bytes" * 1000
    client.put_object(bucket_name=bucket, object_name="a/b.bin", data=io.BytesIO(body), length=len(body))
    got = client.get_object(bucket_name=bucket, object_name="a/b.bin")
    try:
        assert got.read() == body
    finally:
        got.close()
        got.release_conn()
    assert client.get_object_lock_config(bucket_name=bucket) is not None
    with pytest.raises(Exception):  # noqa: B017 - wrong credentials must be refused by the server
        Minio(stack.s3.address(), access_key="nobody", secret_key="wrong-secret", secure=False).list_buckets()

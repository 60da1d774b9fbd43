"""Shared fixtures: a time-skipping Temporal for workflow unit tests; real stacks live in harness/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from deploy.binaries import temporal_test_server
from platform_common import search_attributes as sa

pytest_plugins = ["tests.harness.fixtures"]


async def register_search_attributes(client: Client) -> None:
    """Workflows upsert these; an unregistered one would fail the workflow task."""
    types = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
        "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={k.name: types[k.indexed_value_type.name] for k in sa.ALL},
        )
    )


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server())
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()

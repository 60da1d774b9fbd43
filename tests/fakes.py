"""Fake gRPC stubs for activity tests: each records the requests it got and answers from a
script (a response, or a status code to fail with), the way a real service would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class FakeStub:
    """Any RPC name works: `stub.answer("GetRefund", response_or_code)` scripts it; calls are
    kept in `stub.calls` as (name, request, timeout)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, float | None]] = []
        self._answers: dict[str, list[Any]] = {}

    def answer(self, rpc: str, *answers: Any) -> FakeStub:
        self._answers.setdefault(rpc, []).extend(answers)
        return self

    def requests(self, rpc: str) -> list[Any]:
        return [req for name, req, _ in self.calls if name == rpc]

    def __getattr__(self, rpc: str) -> Callable[..., Any]:
        if rpc.startswith("_"):
            raise AttributeError(rpc)

        async def call(request: Any, timeout: float | None = None, **_: Any) -> Any:
            self.calls.append((rpc, request, timeout))
            queue = self._answers.get(rpc, [])
            answer = queue.pop(0) if len(queue) > 1 else (queue[0] if queue else None)
            if isinstance(answer, grpc.StatusCode):
                raise rpc_error(answer, f"{rpc} failed")
            return answer

        return call

"""The one translator from what Temporal's client raises to the platform's errors.

Every service's handle on its workflows (`<domain>/client.py`) calls `translate` in its except
blocks, so one refusal, one timeout or one outage reads the same from every service: a typed
refusal becomes its gRPC code and reason; an update that did not answer in time, a failed query
or an unreachable server becomes UNAVAILABLE ("nothing was changed", or "it may still apply");
a workflow that does not exist becomes NOT_FOUND (or what the caller says a missing one means).
"""

from __future__ import annotations

from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from platform_common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
    engine_unavailable,
)
from platform_common.refusals import Refusal, reason_of

_ERRORS: dict[str, type[DomainError]] = {
    Refusal.PERMISSION_DENIED: PermissionDenied,
    Refusal.FAILED_PRECONDITION: FailedPrecondition,
    Refusal.INVALID_ARGUMENT: InvalidArgument,
    Refusal.RESOURCE_EXHAUSTED: ResourceExhausted,
}
# Types raised by workers of earlier releases (a service may be upgraded before its workers):
# what they meant, so a rolling deploy changes no answer.
_LEGACY: dict[str, tuple[type[DomainError], str]] = {
    "OrderCompleted": (FailedPrecondition, "ORDER_COMPLETED"),
    "OrderOnHold": (FailedPrecondition, "DISPUTE_OPEN"),
    "NotFailed": (FailedPrecondition, ""),
    "ValueError": (InvalidArgument, ""),
}


def refusal_error(cause: ApplicationError) -> DomainError:
    """A workflow's refusal as the platform's error; an untyped failure is a refused precondition."""
    kind = str(cause.type or "")
    if kind in _ERRORS:
        return _ERRORS[kind](cause.message, reason_of(cause))
    error, reason = _LEGACY.get(kind, (FailedPrecondition, ""))
    return error(cause.message, reason)


def translate(exc: BaseException, subject: str, missing: DomainError | None = None) -> DomainError:
    """`exc`, raised by a Temporal client call about `subject` ("dispute d-1"), as a DomainError.

    `missing` is what a workflow that does not exist (or has closed: a closed workflow takes no
    updates) means to the caller; by default NOT_FOUND. Anything that is not Temporal's is
    re-raised: a bug must not turn into a polite UNAVAILABLE.
    """
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            return refusal_error(cause)
        return FailedPrecondition(f"{subject} refused the action: {cause}")
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError | TimeoutError):
        return Unavailable(
            f"{subject} did not answer in time; it may still apply the action, and retrying it is safe"
        )
    if isinstance(exc, WorkflowQueryFailedError):
        return Unavailable(f"{subject} could not be read right now: {exc}")
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return missing or NotFound(f"{subject} not found")
        return engine_unavailable(exc)
    if isinstance(exc, RuntimeError):  # the lazy client's first connect failed
        return engine_unavailable(exc)
    raise exc

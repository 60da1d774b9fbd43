"""How a workflow says no: one helper, typed reasons, the same in every domain.

A validator (or a handler) refuses an update by raising `refuse(...)`: a non-retryable
ApplicationError whose `type` is a `Refusal` (which gRPC code it becomes) and whose first detail
is an optional machine-readable reason (sent to callers as `dp-error-reason`). The services turn
it back into the platform's error with `platform_common.temporal_errors.translate`, so no
client matches on message text or on a domain's private exception names.

This module is imported by workflows, inside Temporal's sandbox: it does no I/O.
"""

from __future__ import annotations

import enum

from temporalio.exceptions import ApplicationError


class Refusal(enum.StrEnum):
    """The ApplicationError types a workflow refuses with (the strings are in histories: keep them)."""

    PERMISSION_DENIED = "PermissionDenied"
    FAILED_PRECONDITION = "FailedPrecondition"
    INVALID_ARGUMENT = "InvalidArgument"
    RESOURCE_EXHAUSTED = "ResourceExhausted"


def refuse(message: str, kind: Refusal = Refusal.FAILED_PRECONDITION, reason: str = "") -> ApplicationError:
    """The error a workflow raises to refuse an action; nothing it refuses is retried."""
    details = (reason,) if reason else ()
    return ApplicationError(message, *details, type=kind, non_retryable=True)


def reason_of(error: ApplicationError) -> str:
    """The machine-readable reason a refusal carries ("" if none)."""
    details = error.details
    return str(details[0]) if details and isinstance(details[0], str) else ""

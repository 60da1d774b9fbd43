"""Domain errors and their single mapping to gRPC status codes.

Services raise these from business logic; the server bootstrap turns them into statuses, so a
handler never chooses a status code itself and every refusal carries a human-readable message.
"""

from __future__ import annotations

import logging

import grpc

# The trailing metadata key of a refusal's machine-readable reason (DomainError.reason).
REASON_METADATA_KEY = "dp-error-reason"


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        # Optional machine-readable cause (e.g. "MAX_DISPUTES_REACHED"), sent to the client as
        # trailing metadata "dp-error-reason" next to the status code.
        self.reason = reason


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(DomainError):
    """The caller stopped sending (a stalled stream); whatever it started was undone."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(DomainError):
    """A dependency (Temporal, S3, database) is down; the request changed nothing and may be retried."""

    code = grpc.StatusCode.UNAVAILABLE


def engine_unavailable(exc: Exception) -> Unavailable:
    """Temporal could not be reached (an RPC error, or the lazy client's first connect failed)."""
    status = getattr(exc, "status", None)
    kind = status.name if status is not None else type(exc).__name__
    # The caller gets the kind; operators get Temporal's own words.
    logging.getLogger("temporal").warning("workflow engine refused the call (%s): %s", kind, exc)
    return Unavailable(f"workflow engine unavailable ({kind}); nothing was changed, retry later")

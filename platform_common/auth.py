"""Caller identity: HS256 JWT bearer tokens in gRPC metadata.

The secret comes from DP_JWT_SECRET only. Roles are coarse (buyer, seller, arbiter, service);
which role may call which RPC is declared per service, and resource ownership ("this buyer's
order") is checked by the handler that loads the resource.
"""

from __future__ import annotations

import contextvars
import enum
import os
import time
from dataclasses import dataclass

import jwt

from platform_common.errors import PermissionDenied, Unauthenticated

ISSUER = "dispute-platform"
MIN_SECRET_BYTES = 32
_ALGORITHM = "HS256"


class Role(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    ARBITER = "arbiter"
    SERVICE = "service"


@dataclass(frozen=True)
class Caller:
    id: str
    role: Role


_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller")


def current_caller() -> Caller:
    """The authenticated caller of the RPC being served (set by the auth interceptor)."""
    try:
        return _current.get()
    except LookupError:  # pragma: no cover - a handler reached without the interceptor
        raise Unauthenticated("no authenticated caller") from None


def set_current_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def require_internal(*subjects: str) -> Caller:
    """Internal RPCs (workflow activities) accept only the named service subjects, not every
    platform service: checkout may create orders, but only the orders worker completes them."""
    caller = current_caller()
    if caller.role is not Role.SERVICE or caller.id not in subjects:
        raise PermissionDenied(f"only {', '.join(subjects)} may call this internal method")
    return caller


def jwt_secret() -> str:
    secret = os.environ.get("DP_JWT_SECRET", "")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(
            f"DP_JWT_SECRET must be set to at least {MIN_SECRET_BYTES} bytes "
            "(the launcher generates one into the data directory)"
        )
    return secret


def mint_token(subject: str, role: Role, secret: str, ttl_seconds: int = 3600) -> str:
    """Issue a token; used by services for their own calls, by tests and the token CLI."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(token: str, secret: str) -> Caller:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "role", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature is invalid") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"token rejected: {exc}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated("token has an empty subject")
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthenticated(f"token has an unknown role {claims.get('role')!r}") from None
    return Caller(id=subject, role=role)


def caller_from_metadata(metadata: dict[str, str], secret: str) -> Caller:
    header = metadata.get("authorization")
    if not header:
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    return verify_token(token.strip(), secret)


def main() -> None:
    """`python -m platform_common.auth <subject> <role>` prints a token for grpcurl and scripts."""
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m platform_common.auth <subject> <buyer|seller|arbiter|service>")
    print(mint_token(sys.argv[1], Role(sys.argv[2]), jwt_secret(), ttl_seconds=12 * 3600))


if __name__ == "__main__":
    main()

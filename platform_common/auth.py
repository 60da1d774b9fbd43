"""Caller identity: HS256 JWT bearer tokens in gRPC metadata.

The secret comes from DP_JWT_SECRET only. A token names its subject, its role (buyer, seller,
arbiter, service) and the APIs it is meant for (`aud`, gRPC service names): a token minted for
one service is refused by the others. Lifetimes are bounded, so a leaked token ages out. Which
role and which service identity may call which RPC is one table (platform_common/access.py);
resource ownership ("this buyer's order") is checked by the handler that loads the resource.
"""

from __future__ import annotations

import contextvars
import enum
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import jwt

from platform_common.errors import Unauthenticated

ISSUER = "dispute-platform"
MIN_SECRET_BYTES = 32
# A token lives at most this long (exp - iat): long enough for a work shift, short enough that a
# leaked token stops working the same day.
MAX_TOKEN_LIFETIME_S = 24 * 3600
# Clock skew tolerated between the minting and the verifying machine.
LEEWAY_S = 5
_ALGORITHM = "HS256"

# The platform's APIs, which are also the audiences a token may name.
ORDER_API = "orders.v1.OrderService"
DISPUTE_API = "disputes.v1.DisputeService"
EVIDENCE_API = "evidence.v1.EvidenceService"
REFUND_API = "refunds.v1.RefundService"
ALL_APIS = (ORDER_API, DISPUTE_API, EVIDENCE_API, REFUND_API)


class Role(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    ARBITER = "arbiter"
    # Runs the arbitration team: the queue, everyone's workload, handing disputes over.
    ARBITER_LEAD = "arbiter_lead"
    SERVICE = "service"


# A token's subject: an account or service id, everywhere an id of one is taken.
ACCOUNT_ID_MAX_CHARS = 128


@dataclass(frozen=True)
class Caller:
    id: str
    role: Role

    def is_(self, role: Role, account_id: str) -> bool:
        """Role and id together: a seller token carrying a buyer's id is not that buyer."""
        return self.role is role and self.id == account_id

    def describe(self) -> str:
        return f"{self.role.value} {self.id[:64]!r}"


_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller")


def current_caller() -> Caller:
    """The authenticated caller of the RPC being served (set by the auth interceptor)."""
    try:
        return _current.get()
    except LookupError:  # pragma: no cover - a handler reached without the interceptor
        raise Unauthenticated("no authenticated caller") from None


def set_current_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def jwt_secret(environ: Mapping[str, str] | None = None) -> str:
    """DP_JWT_SECRET from the environment (or from `environ`, which stands in for it)."""
    secret = (os.environ if environ is None else environ).get("DP_JWT_SECRET", "")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(
            f"DP_JWT_SECRET must be set to at least {MIN_SECRET_BYTES} bytes "
            "(the launcher generates one into the data directory)"
        )
    return secret


def mint_token(
    subject: str,
    role: Role,
    secret: str,
    ttl_seconds: int = 3600,
    audience: str | Sequence[str] = ALL_APIS,
) -> str:
    """Issue a token; used by services for their own calls, by tests and the token CLI."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "iss": ISSUER,
        "aud": audience if isinstance(audience, str) else list(audience),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def _numeric(claims: dict[str, object], name: str) -> int:
    value = claims.get(name)
    # JSON numbers only: PyJWT also takes "1700000000" (a string), which the spec does not allow.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"token claim {name!r} must be a number (seconds since the epoch)")
    return int(value)


def verify_token(token: str, secret: str, audience: str) -> Caller:
    """The caller a token names, if it is signed by us, meant for `audience`, and current."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=ISSUER,
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": ["sub", "role", "exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature is invalid") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated(f"token is not meant for {audience} (claim 'aud')") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"token rejected: {str(exc)[:200]}") from None
    issued, expires = _numeric(claims, "iat"), _numeric(claims, "exp")
    if expires - issued > MAX_TOKEN_LIFETIME_S:
        raise Unauthenticated(f"token lifetime exceeds {MAX_TOKEN_LIFETIME_S // 3600} hours (exp - iat)")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > ACCOUNT_ID_MAX_CHARS:
        raise Unauthenticated(f"token subject must be 1..{ACCOUNT_ID_MAX_CHARS} characters")
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthenticated(f"token has an unknown role {str(claims.get('role'))[:32]!r}") from None
    return Caller(id=subject, role=role)


def caller_from_metadata(metadata: Iterable[tuple[str, object]], secret: str, audience: str) -> Caller:
    """The caller of one call. Exactly one `authorization` entry: with two, which one a proxy or
    a server would honour is ambiguous, so neither is."""
    headers = [value for key, value in metadata if key == "authorization"]
    if not headers:
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
    if len(headers) > 1:
        raise Unauthenticated("exactly one 'authorization' metadata entry is allowed")
    header = headers[0]
    if not isinstance(header, str):
        raise Unauthenticated("authorization metadata must be text")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    return verify_token(token.strip(), secret, audience)


def main() -> None:
    """`python -m platform_common.auth <subject> <role>` prints a token for grpcurl and scripts."""
    import sys

    if len(sys.argv) != 3:
        sys.exit(
            "usage: python -m platform_common.auth <subject> <buyer|seller|arbiter|arbiter_lead|service>"
        )
    print(mint_token(sys.argv[1], Role(sys.argv[2]), jwt_secret(), ttl_seconds=12 * 3600))


if __name__ == "__main__":
    main()

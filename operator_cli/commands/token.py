"""`dpctl token`: a development JWT, signed with the stack's secret (DP_JWT_SECRET, from the
environment or data/dev.env), for grpcurl, scripts or `dpctl --token`. The claims are the ones
every service verifies (platform_common/auth.py); the lifetime is capped at the platform's 24 h."""

from __future__ import annotations

import enum
import time
from typing import Annotated

import typer

from operator_cli.commands import session_of
from operator_cli.failures import UsageFailure
from platform_common import auth


class ApiName(enum.StrEnum):
    orders = "orders"
    disputes = "disputes"
    evidence = "evidence"
    refunds = "refunds"


_APIS = {
    ApiName.orders: auth.ORDER_API,
    ApiName.disputes: auth.DISPUTE_API,
    ApiName.evidence: auth.EVIDENCE_API,
    ApiName.refunds: auth.REFUND_API,
}


def token(
    ctx: typer.Context,
    role: Annotated[auth.Role, typer.Option(help="The caller's role.")],
    subject: Annotated[str, typer.Option(help="Account id, or the service identity for role service.")],
    ttl: Annotated[
        int, typer.Option(min=60, max=auth.MAX_TOKEN_LIFETIME_S, help="Lifetime in seconds.")
    ] = 3600,
    api: Annotated[
        list[ApiName] | None, typer.Option(help="Only for this API (repeat); default: all.")
    ] = None,
) -> None:
    """Mint a token and print it (only the token, for `$(dpctl token ...)`)."""
    if not subject.strip() or len(subject) > auth.ACCOUNT_ID_MAX_CHARS:
        raise UsageFailure(f"--subject must be 1..{auth.ACCOUNT_ID_MAX_CHARS} characters")
    session = session_of(ctx)
    audience = [_APIS[a] for a in api] if api else list(auth.ALL_APIS)
    minted = auth.mint_token(subject, role, session.settings.secret(), ttl_seconds=ttl, audience=audience)
    if session.out.json:
        expires = int(time.time()) + ttl
        session.out.data(
            {
                "token": minted,
                "subject": subject,
                "role": role.value,
                "audience": audience,
                "expires_at": expires,
            }
        )
        return
    print(minted)

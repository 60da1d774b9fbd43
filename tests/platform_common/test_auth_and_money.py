"""Token verification and money validation: the two pieces every RPC leans on."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from platform_common.auth import (
    ALL_APIS,
    DISPUTE_API,
    ISSUER,
    MAX_TOKEN_LIFETIME_S,
    ORDER_API,
    Caller,
    Role,
    caller_from_metadata,
    mint_token,
    verify_token,
)
from platform_common.errors import InvalidArgument, Unauthenticated
from platform_common.money import CURRENCY_EXPONENTS, Money, validate_money

SECRET = "s" * 48


def test_round_trip() -> None:
    assert verify_token(mint_token("u1", Role.SELLER, SECRET), SECRET, ORDER_API) == Caller("u1", Role.SELLER)


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    body: dict[str, object] = {
        "sub": "u1",
        "role": "buyer",
        "iss": ISSUER,
        "aud": list(ALL_APIS),
        "iat": now,
        "exp": now + 3600,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# Claims as a function of "now": evaluated when the test runs, not when it was collected.
BAD_CLAIMS: list[tuple[Callable[[int], dict[str, object]], str]] = [
    (lambda now: {"exp": now - 10}, "expired"),
    (lambda now: {"role": "root"}, "unknown role"),
    (lambda now: {"iss": "elsewhere"}, "rejected"),
    (lambda now: {"sub": " "}, "subject"),
    (lambda now: {"sub": "x" * 129}, "subject"),
    # A string where a number belongs: PyJWT would take "1999999999" at face value.
    (lambda now: {"exp": str(now + 600)}, "must be a number"),
    (lambda now: {"iat": str(now)}, "must be a number|rejected"),
    # Valid for a hundred years: refused, a leaked token must age out.
    (lambda now: {"exp": now + 100 * 365 * 86400}, "lifetime"),
    (lambda now: {"aud": None}, "rejected"),
    (lambda now: {"iat": None}, "rejected"),
    (lambda now: {"aud": ["somebody-else"]}, "not meant for"),
]


@pytest.mark.parametrize(("claims", "message"), BAD_CLAIMS)
def test_bad_claims(claims: Callable[[int], dict[str, object]], message: str) -> None:
    body = _claims(**claims(int(time.time())))
    with pytest.raises(Unauthenticated, match=message):
        verify_token(jwt.encode(body, SECRET, algorithm="HS256"), SECRET, ORDER_API)


def test_a_token_is_only_good_for_its_audience() -> None:
    token = mint_token("worker-orders", Role.SERVICE, SECRET, audience=ORDER_API)
    assert verify_token(token, SECRET, ORDER_API).id == "worker-orders"
    with pytest.raises(Unauthenticated, match="not meant for"):
        verify_token(token, SECRET, DISPUTE_API)


def test_lifetime_bound_is_inclusive() -> None:
    ok = mint_token("u1", Role.BUYER, SECRET, ttl_seconds=MAX_TOKEN_LIFETIME_S)
    assert verify_token(ok, SECRET, ORDER_API).id == "u1"
    with pytest.raises(Unauthenticated, match="lifetime"):
        verify_token(
            mint_token("u1", Role.BUYER, SECRET, ttl_seconds=MAX_TOKEN_LIFETIME_S + 1), SECRET, ORDER_API
        )


def test_signature_and_algorithm_are_enforced() -> None:
    with pytest.raises(Unauthenticated, match="signature"):
        verify_token(mint_token("u1", Role.BUYER, "o" * 48), SECRET, ORDER_API)
    unsigned = jwt.encode(_claims(role="service"), None, algorithm="none")
    with pytest.raises(Unauthenticated):
        verify_token(unsigned, SECRET, ORDER_API)


def test_metadata_forms() -> None:
    token = mint_token("u1", Role.BUYER, SECRET)
    assert caller_from_metadata([("authorization", f"Bearer {token}")], SECRET, ORDER_API).id == "u1"
    assert caller_from_metadata([("authorization", f"bearer {token}")], SECRET, ORDER_API).role is Role.BUYER
    headers: list[list[tuple[str, object]]] = [
        [],
        [("authorization", "")],
        [("authorization", token)],
        [("authorization", "Bearer ")],
        [("authorization", b"Bearer x")],
    ]
    for header in headers:
        with pytest.raises(Unauthenticated):
            caller_from_metadata(header, SECRET, ORDER_API)


def test_duplicate_authorization_headers_are_refused() -> None:
    """With two, which one a proxy or the server honours is ambiguous: neither is."""
    mine = mint_token("buyer-1", Role.BUYER, SECRET)
    other = mint_token("support", Role.SERVICE, SECRET)
    for pair in ([mine, other], [mine, mine]):
        with pytest.raises(Unauthenticated, match="exactly one"):
            caller_from_metadata([("authorization", f"Bearer {t}") for t in pair], SECRET, ORDER_API)


def test_role_and_id_together() -> None:
    seller_with_buyers_id = Caller("alice", Role.SELLER)
    assert not seller_with_buyers_id.is_(Role.BUYER, "alice")
    assert Caller("alice", Role.BUYER).is_(Role.BUYER, "alice")


def test_money() -> None:
    assert validate_money(1999, "USD", "total") == Money(1999, "USD")
    assert str(Money(1999, "USD")) == "19.99 USD"
    assert str(Money(500, "JPY")) == "500 JPY"
    assert str(Money(1234, "KWD")) == "1.234 KWD"
    assert validate_money(0, "EUR", "refund", allow_zero=True).minor_units == 0
    for minor, currency in [(0, "USD"), (-1, "USD"), (10**16, "USD"), (1, "usd"), (1, "XXX"), (1, "")]:
        with pytest.raises(InvalidArgument):
            validate_money(minor, currency, "total")
    assert CURRENCY_EXPONENTS["JPY"] == 0 and CURRENCY_EXPONENTS["BHD"] == 3 and len(CURRENCY_EXPONENTS) > 150

"""Token verification and money validation: the two pieces every RPC leans on."""

from __future__ import annotations

import time

import jwt
import pytest

from platform_common.auth import ISSUER, Caller, Role, caller_from_metadata, mint_token, verify_token
from platform_common.errors import InvalidArgument, Unauthenticated
from platform_common.money import CURRENCY_EXPONENTS, Money, validate_money

SECRET = "s" * 48


def test_round_trip() -> None:
    assert verify_token(mint_token("u1", Role.SELLER, SECRET), SECRET) == Caller("u1", Role.SELLER)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": int(time.time()) - 5}, "expired"),
        ({"role": "root"}, "unknown role"),
        ({"iss": "elsewhere"}, "rejected"),
        ({"sub": " "}, "empty subject"),
    ],
)
def test_bad_claims(claims: dict[str, object], message: str) -> None:
    body = {"sub": "u1", "role": "buyer", "iss": ISSUER, "exp": int(time.time()) + 60, **claims}
    with pytest.raises(Unauthenticated, match=message):
        verify_token(jwt.encode(body, SECRET, algorithm="HS256"), SECRET)


def test_signature_and_algorithm_are_enforced() -> None:
    with pytest.raises(Unauthenticated, match="signature"):
        verify_token(mint_token("u1", Role.BUYER, "o" * 48), SECRET)
    unsigned = jwt.encode(
        {"sub": "u1", "role": "service", "iss": ISSUER, "exp": 2**40}, None, algorithm="none"
    )
    with pytest.raises(Unauthenticated):
        verify_token(unsigned, SECRET)


def test_metadata_forms() -> None:
    token = mint_token("u1", Role.BUYER, SECRET)
    assert caller_from_metadata({"authorization": f"Bearer {token}"}, SECRET).id == "u1"
    assert caller_from_metadata({"authorization": f"bearer {token}"}, SECRET).role is Role.BUYER
    for header in ({}, {"authorization": ""}, {"authorization": token}, {"authorization": "Bearer "}):
        with pytest.raises(Unauthenticated):
            caller_from_metadata(header, SECRET)


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

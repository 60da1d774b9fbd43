"""Money as integer minor units + ISO-4217 code. Floats never represent amounts here."""

from __future__ import annotations

from dataclasses import dataclass

from platform_common.currencies import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, format_minor
from platform_common.errors import InvalidArgument

__all__ = ["CURRENCY_EXPONENTS", "MAX_MINOR_UNITS", "Money", "validate_currency", "validate_money"]


@dataclass(frozen=True)
class Money:
    minor_units: int
    currency: str

    def __str__(self) -> str:
        return format_minor(self.minor_units, self.currency)


def validate_currency(code: str, field: str = "currency") -> str:
    if not code:
        raise InvalidArgument(f"{field} is required (ISO-4217 code such as 'USD')")
    if code not in CURRENCY_EXPONENTS:
        raise InvalidArgument(f"{field} {code!r} is not an ISO-4217 currency code")
    return code


def validate_money(minor_units: int, currency: str, field: str, *, allow_zero: bool = False) -> Money:
    validate_currency(currency, f"{field}.currency")
    if minor_units < 0 or (minor_units == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{field}.minor_units must be {bound}, got {minor_units}")
    if minor_units > MAX_MINOR_UNITS:
        raise InvalidArgument(f"{field}.minor_units must be <= {MAX_MINOR_UNITS}, got {minor_units}")
    return Money(minor_units, currency)

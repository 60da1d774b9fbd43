"""Money as integer minor units + ISO-4217 code. Floats never represent amounts here."""

from __future__ import annotations

from dataclasses import dataclass

from platform_common.errors import InvalidArgument

# Active ISO-4217 codes and their minor-unit exponents (ISO 4217 amendment 179). Codes not listed
# (funds, precious metals, testing codes such as XTS/XXX) are refused: nobody pays with them.
_EXP0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXP3 = "BHD IQD JOD KWD LYD OMR TND"
_EXP4 = "CLF UYW"
_EXP2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD "
    "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP "
    "PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD UZS VES WST XCD XCG YER ZAR ZMW ZWG"
)
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXP0.split(), 0),
    **dict.fromkeys(_EXP2.split(), 2),
    **dict.fromkeys(_EXP3.split(), 3),
    **dict.fromkeys(_EXP4.split(), 4),
}

# Far above any real order, far below int64 overflow when summing items.
MAX_MINOR_UNITS = 10**15


@dataclass(frozen=True)
class Money:
    minor_units: int
    currency: str

    def __str__(self) -> str:
        exp = CURRENCY_EXPONENTS.get(self.currency, 2)
        if exp == 0:
            return f"{self.minor_units} {self.currency}"
        whole, frac = divmod(abs(self.minor_units), 10**exp)
        sign = "-" if self.minor_units < 0 else ""
        return f"{sign}{whole}.{frac:0{exp}d} {self.currency}"


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

"""ISO-4217 currencies and how many minor units each has: pure data and formatting, so that
workflows (inside Temporal's sandbox) can show amounts as platform_common/money.py does."""

from __future__ import annotations

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
# Far above any real order, far below int64 overflow when summing items.
MAX_MINOR_UNITS = 10**15

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXP0.split(), 0),
    **dict.fromkeys(_EXP2.split(), 2),
    **dict.fromkeys(_EXP3.split(), 3),
    **dict.fromkeys(_EXP4.split(), 4),
}


def format_minor(minor_units: int, currency: str) -> str:
    """An amount in minor units as people read it: 12999 EUR is "129.99 EUR"."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    if exp == 0:
        return f"{minor_units} {currency}"
    whole, frac = divmod(abs(minor_units), 10**exp)
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{whole}.{frac:0{exp}d} {currency}"


def parse_major(text: str, currency: str) -> int:
    """An amount as people type it ("129.99", "130") in minor units of `currency` (12999): the
    inverse of format_minor. Exact (no floats); more decimals than the currency has, a sign, or
    an unknown currency raise ValueError."""
    exp = CURRENCY_EXPONENTS.get(currency)
    if exp is None:
        raise ValueError(f"{currency!r} is not an ISO-4217 currency code")
    whole, dot, frac = text.strip().partition(".")
    if not whole.isdigit() or not whole.isascii() or (dot and not (frac.isdigit() and frac.isascii())):
        raise ValueError(f"{text!r} is not an amount (digits, optionally a '.' and decimals)")
    if len(frac) > exp:
        raise ValueError(f"{currency} has {exp} decimal{'s' if exp != 1 else ''}; {text!r} has more")
    minor = int(whole + frac.ljust(exp, "0"))
    if minor > MAX_MINOR_UNITS:
        raise ValueError(
            f"{text!r} is more than any amount can be ({format_minor(MAX_MINOR_UNITS, currency)})"
        )
    return minor

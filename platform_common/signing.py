"""Signed webhooks, both ways: the one scheme the platform signs with and verifies.

"t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>" (Stripe's scheme): the timestamp
is signed with the body, so a captured request replayed later fails the tolerance check, and
several v1 values may be sent while a secret is rotated. Used for the payment provider's
webhooks to RefundService and for the dispute events DisputeService sends to subscribers.
"""

from __future__ import annotations

import hashlib
import hmac

# A signed request older (or newer) than this is refused as a replay.
TOLERANCE_S = 300


def _mac(body: bytes, secret: str, at: int) -> str:
    return hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, at: int) -> str:
    """The signature header for `body` sent at `at` (unix seconds)."""
    return f"t={at},v1={_mac(body, secret, at)}"


def signature_problem(
    body: bytes, header: str, secret: str, now: float, tolerance_s: float = TOLERANCE_S
) -> str:
    """Why a signed request must be refused, or "" if it is genuine and fresh."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamp = fields.get("t", [""])[0]
    if not stamp.isdigit() or len(stamp) > 12 or not fields.get("v1"):
        return "signature header must be 't=<unix seconds>,v1=<hex>'"
    at = int(stamp)
    expected = _mac(body, secret, at)
    if not any(hmac.compare_digest(expected, v) for v in fields["v1"] if v.isascii()):
        return "bad signature"
    if abs(now - at) > tolerance_s:
        return f"timestamp outside the {tolerance_s:g} s tolerance (replayed or delayed)"
    return ""

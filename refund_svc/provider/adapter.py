"""The payment-provider adapter: what the platform needs from a card/wallet processor.

`PaymentProvider` is the interface; `HttpPaymentProvider` speaks the JSON-over-HTTP API of the
simulator (shaped like real processors: idempotency keys, async settlement, signed webhooks).
A real processor gets its own implementation of the same interface.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from platform_common.signing import TOLERANCE_S

PROCESSING, SUCCEEDED, DECLINED = "processing", "succeeded", "declined"
# The provider signs its webhooks with the platform's one scheme (platform_common/signing.py).
SIGNATURE_HEADER = "X-Provider-Signature"
SIGNATURE_TOLERANCE_S = TOLERANCE_S
# The request itself is wrong and nothing was created: retrying the same request cannot help.
_DEFINITE_REFUSALS = {400, 404, 409, 422}


class ProviderError(Exception):
    """Base class; `retryable` tells the caller whether trying again can help."""

    retryable = True


class ProviderUnavailable(ProviderError):
    pass


class ProviderRejected(ProviderError):
    """The request itself is wrong (4xx): retrying the same request cannot succeed."""

    retryable = False


@dataclass(frozen=True)
class ProviderRefund:
    reference: str
    idempotency_key: str
    status: str
    decline_reason: str = ""
    settled_at: str = ""
    amount_minor: int = 0
    currency: str = ""


class PaymentProvider(Protocol):
    async def create_refund(
        self, *, idempotency_key: str, payment_reference: str, amount_minor: int, currency: str
    ) -> ProviderRefund: ...

    async def get_refund(self, reference: str) -> ProviderRefund: ...


def _refund(data: dict[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        reference=str(data["id"]),
        idempotency_key=str(data["idempotency_key"]),
        status=str(data["status"]),
        decline_reason=str(data.get("decline_reason") or ""),
        settled_at=str(data.get("settled_at") or ""),
        amount_minor=int(data.get("amount_minor") or 0),
        currency=str(data.get("currency") or ""),
    )


class HttpPaymentProvider:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 15.0) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                result: dict[str, Any] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            if exc.code in _DEFINITE_REFUSALS:
                raise ProviderRejected(f"provider refused the request ({exc.code}): {detail}") from exc
            # 5xx, 429, 408, auth during key rotation...: the outcome is unknown, so the same
            # idempotent request is retried rather than failing a refund that may exist.
            raise ProviderUnavailable(f"provider answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ProviderUnavailable(f"provider unreachable: {exc}") from exc

    async def create_refund(
        self, *, idempotency_key: str, payment_reference: str, amount_minor: int, currency: str
    ) -> ProviderRefund:
        body = {
            "idempotency_key": idempotency_key,
            "payment_reference": payment_reference,
            "amount_minor": amount_minor,
            "currency": currency,
        }
        return _refund(await asyncio.to_thread(self._call, "POST", "/v1/refunds", body))

    async def get_refund(self, reference: str) -> ProviderRefund:
        return _refund(await asyncio.to_thread(self._call, "GET", f"/v1/refunds/{reference}"))

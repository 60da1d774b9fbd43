"""Typed search attributes that make orders and disputes findable in the Temporal UI.

Registered by the launcher (dev server flags) and by tests (operator service) before any workflow
upserts them.
"""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeKey,
)

ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
BUYER_ID = SearchAttributeKey.for_keyword("BuyerId")
SELLER_ID = SearchAttributeKey.for_keyword("SellerId")
DISPUTE_ID = SearchAttributeKey.for_keyword("DisputeId")
DISPUTE_STATUS = SearchAttributeKey.for_keyword("DisputeStatus")
PROTECTION_STATUS = SearchAttributeKey.for_keyword("ProtectionStatus")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
REFUND_STATUS = SearchAttributeKey.for_keyword("RefundStatus")
REFUND_OVERDUE = SearchAttributeKey.for_bool("RefundOverdue")
# How many settlement reports disagreed with the refund (amount, currency, reference) and were
# ignored; operators look at any refund with SettlementMismatches > 0. (An Int: the dev server's
# SQLite visibility store allows only three Bool attributes.)
SETTLEMENT_MISMATCHES = SearchAttributeKey.for_int("SettlementMismatches")
# A dispute whose side effects (freeze, evidence, refund, read model) keep failing: operators look.
SIDE_EFFECTS_DEFERRED = SearchAttributeKey.for_bool("SideEffectsDeferred")
# "FLAGGED" on a dispute opened by a buyer who reached the policy's review threshold (a Keyword:
# the dev server's SQLite visibility store allows only three Bool attributes).
BUYER_REVIEW = SearchAttributeKey.for_keyword("BuyerReview")
FLAGGED = "FLAGGED"

ALL = (
    ORDER_ID,
    BUYER_ID,
    SELLER_ID,
    DISPUTE_ID,
    DISPUTE_STATUS,
    PROTECTION_STATUS,
    NEXT_DEADLINE,
    SLA_BREACHED,
    REFUND_STATUS,
    REFUND_OVERDUE,
    SIDE_EFFECTS_DEFERRED,
    SETTLEMENT_MISMATCHES,
    BUYER_REVIEW,
)

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "INT": "Int",
    "DOUBLE": "Double",
    "TEXT": "Text",
}


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags

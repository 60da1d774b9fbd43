"""Account flags (docs/rules.md: a blocked buyer cannot open disputes; OrderService keeps the flag).

Trust & safety tooling sets the flag; disputes, arbiters and the account holders read it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2

from order_svc import rules
from order_svc.repository import OrderRepository
from order_svc.store import AccountRow
from platform_common.auth import Role, current_caller
from platform_common.errors import PermissionDenied

log = logging.getLogger(__name__)

MAX_ACCOUNT_ID = 128
MAX_REASON = 500


def require_account_id(value: str) -> str:
    return rules.require_text(value, "account_id", MAX_ACCOUNT_ID)


def account_to_proto(account_id: str, row: AccountRow | None) -> orders_pb2.AccountStatus:
    if row is None:  # never set: not blocked
        return orders_pb2.AccountStatus(account_id=account_id, blocked=False)
    updated = Timestamp()
    updated.FromDatetime(row.updated_at)
    return orders_pb2.AccountStatus(
        account_id=row.account_id, blocked=row.blocked, reason=row.reason, updated_at=updated
    )


class Accounts:
    def __init__(self, repo: OrderRepository) -> None:
        self._repo = repo

    async def set_blocked(self, request: orders_pb2.SetAccountBlockedRequest) -> orders_pb2.AccountStatus:
        account_id = require_account_id(request.account_id)
        reason = rules.require_text(request.reason, "reason", MAX_REASON, min_len=0)
        caller = current_caller()
        row = await self._repo.set_account(account_id, request.blocked, reason, datetime.now(UTC), caller)
        log.info(
            "account %s is %s (set by %s): %s",
            account_id,
            "blocked" if row.blocked else "not blocked",
            row.updated_by,
            row.reason,
        )
        return account_to_proto(account_id, row)

    async def get_status(self, request: orders_pb2.GetAccountStatusRequest) -> orders_pb2.AccountStatus:
        account_id = require_account_id(request.account_id)
        caller = current_caller()
        if caller.role in (Role.BUYER, Role.SELLER) and caller.id != account_id:
            raise PermissionDenied(f"{caller.role.value}s may only read their own account status")
        return account_to_proto(account_id, await self._repo.get_account(account_id))

"""RefundService's platform gauges, read from its ledger at each scrape: refunds by status and
the ones past the overdue mark (refund_svc/rules.py) that have not settled.

Store-wide figures (every replica reports the same ones): aggregate replicas with max.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_common.metrics import Gauge
from refund_svc.contract import RefundStatus
from refund_svc.store import RefundRow

# Still on its way to the buyer: a FAILED refund is counted by dp_refunds{status="FAILED"}.
_UNSETTLED = (RefundStatus.PENDING, RefundStatus.PROCESSING)


def refund_gauges(s: Session) -> list[Gauge]:
    found = [
        Gauge("refunds", "Refunds in the ledger, by status", n, {"status": status})
        for status, n in s.execute(select(RefundRow.status, func.count()).group_by(RefundRow.status))
    ]
    overdue = s.scalar(
        select(func.count())
        .select_from(RefundRow)
        .where(RefundRow.overdue.is_(True), RefundRow.status.in_(_UNSETTLED))
    )
    found.append(Gauge("refunds_overdue", "Refunds past their overdue mark, not settled", overdue or 0))
    return found

"""DisputeService's platform gauges, read from its store at each scrape: disputes by status,
the arbitration backlog and its SLA breaches, and the webhook deliveries still behind.

Store-wide figures (every replica reports the same ones): aggregate replicas with max.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispute_svc import outbox
from dispute_svc.store import ACTIVE, DisputeRow, WebhookRow
from platform_common.metrics import Gauge


def dispute_gauges(s: Session) -> list[Gauge]:
    found = [
        Gauge("disputes", "Disputes in the read model, by status", n, {"status": status})
        for status, n in s.execute(select(DisputeRow.status, func.count()).group_by(DisputeRow.status))
    ]
    # Aggregate filters, not a GROUP BY on an expression: PostgreSQL binds each rendering of
    # `arbiter_id != ''` as its own parameter and would refuse the grouping.
    total, assigned, breached = s.execute(
        select(
            func.count(),
            func.count().filter(DisputeRow.arbiter_id != ""),
            func.count().filter(DisputeRow.sla_breached.is_(True)),
        ).where(DisputeRow.waiting.is_(True))
    ).one()
    for label, n in (("yes", assigned), ("no", total - assigned)):
        found.append(
            Gauge("arbitration_waiting", "Disputes waiting for an arbiter's decision", n, {"assigned": label})
        )
    found.append(
        Gauge("disputes_sla_breached", "Disputes waiting for arbitration past the SLA maximum", breached)
    )
    head = outbox.head(s)
    cursors = s.scalars(select(WebhookRow.cursor).where(WebhookRow.status == ACTIVE)).all()
    found.append(
        Gauge(
            "webhook_backlog_events",
            "Dispute events not yet delivered, summed over active webhook subscriptions",
            sum(max(0, head - c) for c in cursors),
        )
    )
    found.append(Gauge("webhook_subscriptions_active", "Active webhook subscriptions", len(cursors)))
    return found

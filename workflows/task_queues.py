"""One task queue per domain, so each domain's worker can be scaled and deployed on its own."""

ORDERS = "orders"
DISPUTES = "disputes"
REFUNDS = "refunds"
EVIDENCE = "evidence"

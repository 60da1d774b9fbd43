"""RefundService: the refund ledger and the payment-provider adapter."""

"""dpctl, the operator console of the dispute platform: disputes, the arbitration desk, evidence,
refunds, orders and the events feed, over the same gRPC API (and the same JWT bearer tokens) as
every other client. It talks to the services only through protos/ and platform_common, never
through a domain's internals, so it sees exactly what the API shows a caller of its role."""

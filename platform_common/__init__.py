"""Cross-cutting code shared by every service: config, auth, errors, money, gRPC bootstrap."""

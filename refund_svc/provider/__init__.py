"""Payment-provider adapter (interface + HTTP client) and a simulated card/wallet processor."""

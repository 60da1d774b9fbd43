"""Temporal workflows (deterministic), their activities and the worker entry point."""

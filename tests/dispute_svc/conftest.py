"""Fixtures shared by the workflow unit tests."""

from tests.dispute_svc.dispute_harness import disputes

__all__ = ["disputes"]

"""Fixtures shared by the workflow unit tests."""

from tests.unit.dispute_harness import disputes

__all__ = ["disputes"]

"""Composes the domains' Temporal workers into processes (the top of the import graph)."""

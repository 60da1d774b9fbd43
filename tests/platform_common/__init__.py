"""Tests of platform_common and of the repository as a whole (layering, generated code)."""

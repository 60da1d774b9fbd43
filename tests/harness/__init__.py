"""Test harness: real servers for tests, from containers when Docker answers, else local processes."""

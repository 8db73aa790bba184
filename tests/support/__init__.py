"""Helpers and fixtures the test packages share: import them from here, never from another
test package's modules or conftest."""

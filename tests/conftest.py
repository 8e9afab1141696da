"""Shared fixtures. Fakes live in tests/fakes/ and are loaded as pytest plugins."""

pytest_plugins: list[str] = []

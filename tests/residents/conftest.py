"""Fixtures of the residents tests live in tests/conftest.py (the population is shared)."""

from tests.conftest import MAN_1880, WOMAN_1949

__all__ = ["MAN_1880", "WOMAN_1949"]

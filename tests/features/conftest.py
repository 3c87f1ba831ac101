"""The point-in-time tests run on both engines of the feature store."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["numpy", "duckdb"])
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a test's store is forced to use (``engine`` option)."""
    return str(request.param)

"""The builtin ``local`` feature store passes the feature-store conformance suite on both
of its point-in-time engines (numpy and DuckDB), and the builtin ``sqlite`` online store
the online-store suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.builtin.features_plugin import FeatureStoreOptions
from lamina.features import LocalFeatureStore
from lamina.features.online_sqlite import SqliteOnlineStore
from lamina.testing import FeatureStoreSuite, OnlineStoreSuite


class TestLocalFeatureStore(FeatureStoreSuite):
    @pytest.fixture(params=["numpy", "duckdb"])
    def feature_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
        store = LocalFeatureStore(FeatureStoreOptions(engine=request.param), root=tmp_path)
        yield store
        store.close()


class TestSqliteOnlineStore(OnlineStoreSuite):
    @pytest.fixture
    def online_store(self, tmp_path: Path) -> Iterator[Any]:
        store = SqliteOnlineStore(tmp_path / "online.db")
        yield store
        store.close()

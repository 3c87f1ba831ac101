"""Iceberg tables with their SQL catalog on PostgreSQL (what a team shares): the
data-source conformance suite, and two sources on one catalog seeing each other's
commits."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lamina.testing import DataSourceSuite

pytest.importorskip("pyiceberg")


def _catalog(pg_url: str) -> str:
    return pg_url.replace("postgresql://", "postgresql+psycopg://", 1)


def _source(name: str, pg_url: str, warehouse: Path, catalog_name: str) -> Any:
    from lamina.builtin.data_lakes.common import IcebergOptions
    from lamina.builtin.data_lakes.iceberg import IcebergSource

    return IcebergSource(name, IcebergOptions(url=str(warehouse), catalog=_catalog(pg_url),
                                              catalog_name=catalog_name))


class TestIcebergOnAPostgresCatalog(DataSourceSuite):
    @pytest.fixture
    def data_source(self, source_name: str, pg_url: str, tmp_path: Path) -> Any:
        return _source(source_name, pg_url, tmp_path / "warehouse",
                       f"lamina_{uuid.uuid4().hex[:8]}")


def test_two_sources_on_one_catalog_see_each_others_commits(pg_url: str,
                                                            tmp_path: Path) -> None:
    catalog_name = f"team_{uuid.uuid4().hex[:8]}"
    ana = _source("lake", pg_url, tmp_path / "warehouse", catalog_name)
    bo = _source("lake", pg_url, tmp_path / "warehouse", catalog_name)
    ana.write("scores", pa.table({"id": [1, 2]}))
    seen = bo.read(table="scores")
    assert seen.table.num_rows == 2
    ana.write("scores", pa.table({"id": [3]}))
    assert bo.version_of(seen.input) != seen.input.version  # bo's cache would recompute
    assert bo.read(table="scores", as_of=seen.input.version).table.num_rows == 2

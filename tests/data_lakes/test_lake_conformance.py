"""The data-source conformance suite on each lake source, on local disk and on SeaweedFS
(S3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lamina.builtin.data_lakes.common import IcebergOptions, LakeOptions
from lamina.testing import DataSourceSuite

#: An S3 endpoint where nothing listens (port 9 is "discard", closed on loopback).
DEAD_ENDPOINT = "http://127.0.0.1:9"


def _parquet(name: str, **options: Any) -> Any:
    from lamina.builtin.data_lakes.parquet import ParquetSource

    return ParquetSource(name, LakeOptions(**options))


def _delta(name: str, **options: Any) -> Any:
    from lamina.builtin.data_lakes.delta import DeltaSource

    return DeltaSource(name, LakeOptions(**options))


def _iceberg(name: str, **options: Any) -> Any:
    from lamina.builtin.data_lakes.iceberg import IcebergSource

    return IcebergSource(name, IcebergOptions(**options))


class TestParquetLocal(DataSourceSuite):
    time_travel = False

    @pytest.fixture
    def data_source(self, source_name: str, tmp_path: Path) -> Any:
        return _parquet(source_name, url=str(tmp_path / "lake"))


class TestParquetS3(DataSourceSuite):
    time_travel = False

    @pytest.fixture
    def data_source(self, source_name: str, s3_bucket: str, seaweedfs: Any) -> Any:
        return _parquet(source_name, url=f"s3://{s3_bucket}/lake",
                        endpoint_url=seaweedfs.endpoint)

    @pytest.fixture
    def unreachable_data_source(self, source_name: str, s3_env: Any) -> Any:
        return _parquet(source_name, url="s3://lake/x", endpoint_url=DEAD_ENDPOINT,
                        connect_timeout=2)


class TestDeltaLocal(DataSourceSuite):
    @pytest.fixture
    def data_source(self, source_name: str, tmp_path: Path) -> Any:
        return _delta(source_name, url=str(tmp_path / "lake"))


class TestDeltaS3(DataSourceSuite):
    @pytest.fixture
    def data_source(self, source_name: str, s3_bucket: str, seaweedfs: Any) -> Any:
        return _delta(source_name, url=f"s3://{s3_bucket}/lake",
                      endpoint_url=seaweedfs.endpoint)

    @pytest.fixture
    def unreachable_data_source(self, source_name: str, s3_env: Any) -> Any:
        return _delta(source_name, url="s3://lake/x", endpoint_url=DEAD_ENDPOINT,
                      connect_timeout=2)


class TestIcebergLocal(DataSourceSuite):
    @pytest.fixture
    def data_source(self, source_name: str, tmp_path: Path) -> Any:
        return _iceberg(source_name, url=str(tmp_path / "warehouse"))


class TestIcebergS3(DataSourceSuite):
    @pytest.fixture
    def data_source(self, source_name: str, s3_bucket: str, seaweedfs: Any,
                    tmp_path: Path) -> Any:
        return _iceberg(source_name, url=f"s3://{s3_bucket}/warehouse",
                        catalog=f"sqlite:///{tmp_path / 'catalog.db'}",
                        endpoint_url=seaweedfs.endpoint)

    @pytest.fixture
    def unreachable_data_source(self, source_name: str, s3_bucket: str, seaweedfs: Any,
                                tmp_path: Path) -> Any:
        import pyarrow as pa

        options = {"url": f"s3://{s3_bucket}/warehouse",
                   "catalog": f"sqlite:///{tmp_path / 'dead.db'}"}
        _iceberg(source_name, endpoint_url=seaweedfs.endpoint, **options).write(
            "events", pa.table({"id": [1]}))
        # the catalog answers (it is local) and names the table; its files' server is down
        return _iceberg(source_name, endpoint_url=DEAD_ENDPOINT, connect_timeout=2, **options)

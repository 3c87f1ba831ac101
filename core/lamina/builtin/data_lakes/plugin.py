"""The builtin lake sources: ``parquet``, ``delta`` and ``iceberg``, offered through the
``lamina_data_sources`` hook like any plugin's sources.

Imported whenever a plugin manager is built, so it holds only the options classes and the
registration; pyarrow.dataset, deltalake and pyiceberg are imported when a source is built.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from lamina.builtin.data_lakes.common import IcebergOptions, LakeOptions, is_s3
from lamina.hookspecs import hookimpl
from lamina.interfaces.data_source import DataSource, DataSourceSpec

_Options = TypeVar("_Options", LakeOptions, IcebergOptions)


def _in_project(options: _Options, stack: Any) -> _Options:
    """A local lake's relative ``url`` made relative to the project root (the config
    file's folder), as every path of a stack is."""
    if stack is None or is_s3(options.url):
        return options
    return attrs.evolve(options, url=stack.resolve_path(options.url))


def _parquet(name: str, options: LakeOptions, stack: Any) -> DataSource:
    from lamina.builtin.data_lakes.parquet import ParquetSource

    return ParquetSource(name, _in_project(options, stack))


def _delta(name: str, options: LakeOptions, stack: Any) -> DataSource:
    from lamina.builtin.data_lakes.delta import DeltaSource

    return DeltaSource(name, _in_project(options, stack))


def _iceberg(name: str, options: IcebergOptions, stack: Any) -> DataSource:
    from lamina.builtin.data_lakes.iceberg import IcebergSource

    return IcebergSource(name, _in_project(options, stack))


@hookimpl
def lamina_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="parquet", config=LakeOptions, factory=_parquet,
            description="folders of Parquet files on disk or S3 (partition pruning, "
            "versions from the file listing)",
        ),
        DataSourceSpec(
            name="delta", config=LakeOptions, factory=_delta,
            description="Delta Lake tables on disk or S3 (versions, time travel, atomic "
            "writes)",
            install_hint="pip install 'lamina[delta]'",
        ),
        DataSourceSpec(
            name="iceberg", config=IcebergOptions, factory=_iceberg,
            description="Iceberg tables in a SQL catalog, data on disk or S3 (snapshots, "
            "time travel, atomic writes)",
            install_hint="pip install 'lamina[iceberg]'",
        ),
    ]

"""The ``delta`` source: Delta Lake tables (delta-rs, the ``deltalake`` package) on local
disk or S3.

A Delta table's version is its transaction log's version, so a read records it exactly and
``as_of`` reads that version again (time travel) for as long as its log entries and data
files are kept (``VACUUM`` and log cleanup remove them). Writes are one commit each:
atomic, an overwrite included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.builtin.data_lakes import common
from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead
from lamina.runtime.forks import mark_fork_unsafe

PLUGIN = "delta"
INSTALL_HINT = "pip install 'lamina[delta]'"


def import_deltalake(source: str) -> Any:
    try:
        import deltalake
    except ImportError:
        raise DataSourceError(
            f"data source {source!r} (delta) needs the deltalake package, which is not "
            "installed", hint=INSTALL_HINT,
        ) from None
    return deltalake


class DeltaSource:
    """A folder of Delta tables: table ``T`` is the Delta table at ``URL/T``."""

    plugin = PLUGIN

    def __init__(self, name: str, options: common.LakeOptions) -> None:
        self.name = name
        self.options = options
        self.deltalake = import_deltalake(name)
        # delta-rs' tokio runtime panics in a forked child: the local compute starts
        # later workers fresh instead
        mark_fork_unsafe("deltalake (its tokio runtime)")
        if common.is_s3(options.url):
            self.root = "s3://" + common.strip_scheme(options.url).rstrip("/")
            self.storage = _s3_storage(options)
        else:
            self.root = common.local_root(options.url)
            self.storage = {}

    def _uri(self, table: str) -> str:
        return common.table_url(self.root, common.check_table_name(self.name, table))

    def _open(self, table: str, version: int | None = None) -> Any:
        uri = self._uri(table)
        try:
            return self.deltalake.DeltaTable(uri, version=version,
                                             storage_options=self.storage or None)
        except self.deltalake.exceptions.TableNotFoundError:
            raise DataSourceError(
                f"data source {self.name!r} (delta): no Delta table {table!r} under "
                f"{self.options.url!r}",
                hint="check the name, or write the table first",
            ) from None
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            if version is not None:
                raise self._gone(table, version, exc) from None
            raise

    def _gone(self, table: str, version: int | str, exc: BaseException) -> DataSourceError:
        return DataSourceError(
            f"data source {self.name!r} (delta): version {version} of table {table!r} no "
            "longer exists or never did (VACUUM or log cleanup removes old versions: "
            f"{common.first_line(exc)})",
            hint="read the current version (no as_of), or keep history longer "
            "(delta.logRetentionDuration, delta.deletedFileRetentionDuration)",
        )

    # ----------------------------------------------------------------------- read

    def read(self, query: str | None = None, *, params: Mapping[str, Any] | None = None,
             table: str | None = None, filter: Any = None,
             columns: Sequence[str] | None = None, as_of: str | None = None) -> DataRead:
        """Read ``table`` (at version ``as_of``, a recorded ``DataInput.version``) into
        Arrow; ``filter`` prunes partitions and files by their statistics."""
        common.no_query(self.name, PLUGIN, query)
        name = common.check_table_name(self.name, table)
        expr = common.arrow_filter(self.name, filter)
        version = _as_version(self.name, name, as_of)
        dt = self._open(name, version)
        try:
            dataset = dt.to_pyarrow_dataset()
            cols = common.check_columns(self.name, name, columns, dataset.schema.names)
            result = dataset.to_table(columns=cols, filter=expr)
        except DataSourceError:
            raise
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            if version is not None and isinstance(exc, FileNotFoundError | OSError):
                raise self._gone(name, version, exc) from None
            raise DataSourceError(
                f"data source {self.name!r} (delta): cannot read table {name!r} "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="filter on columns the table has, with values of their type",
            ) from None
        return common.finish_read(source=self.name, plugin=PLUGIN, table_name=name,
                                  result=result, filter=filter, columns=columns,
                                  version=str(dt.version()), version_kind="delta")

    # ---------------------------------------------------------------------- write

    def write(self, table: str, data: Any, *,
              mode: Literal["append", "overwrite"] = "append") -> int:
        """Commit ``data`` to ``table`` (created on the first write, partitioned by the
        source's ``partition_by``); one atomic commit, an overwrite included."""
        if mode not in ("append", "overwrite"):
            raise DataSourceError(f"data source {self.name!r}: write mode {mode!r} is unknown",
                                  hint="use mode='append' or mode='overwrite'")
        name = common.check_table_name(self.name, table)
        arrow = common.to_arrow(self.name, name, data)
        _check_delta_types(self.name, name, arrow.schema)
        uri = self._uri(name)
        exists = self._exists(uri)
        try:
            self.deltalake.write_deltalake(
                uri, arrow, mode=mode, storage_options=self.storage or None,
                partition_by=None if exists else (list(self.options.partition_by) or None),
            )
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise DataSourceError(
                f"data source {self.name!r} (delta): cannot write table {name!r} "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="write columns of the table's types (Delta has no unsigned integers, "
                "time-of-day or nested unions)",
            ) from None
        return int(arrow.num_rows)

    def _exists(self, uri: str) -> bool:
        try:
            return bool(self.deltalake.DeltaTable.is_deltatable(
                uri, storage_options=self.storage or None))
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            return False

    # --------------------------------------------------------------------- checks

    def version_of(self, read: DataInput) -> str | None:
        """The table's current Delta version."""
        if read.table is None:
            return None
        return str(self._open(read.table).version())

    def check(self) -> str:
        """Reach the lake's root; a one-line summary."""
        common.check_s3(self.name, PLUGIN, self.options)
        return f"delta lake {self.options.url}: reachable"


def _check_delta_types(source: str, table: str, schema: Any) -> None:
    """Name the first column whose Arrow type Delta cannot store."""
    import pyarrow.types as t

    for field in schema:
        kind = field.type
        if (t.is_time(kind) or t.is_duration(kind) or t.is_interval(kind)
                or t.is_union(kind) or t.is_float16(kind) or t.is_null(kind)):
            raise DataSourceError(
                f"data source {source!r} (delta): column {field.name!r} of type {kind} has "
                f"no Delta type, so table {table!r} cannot store it",
                hint="cast it first (a time of day to a string or an integer of "
                "microseconds, a duration to int64; an all-null column to its real type)",
            )


def _as_version(source: str, table: str, as_of: str | None) -> int | None:
    if as_of is None:
        return None
    try:
        version = int(str(as_of))
        if version < 0:
            raise ValueError(as_of)
    except ValueError:
        raise DataSourceError(
            f"data source {source!r} (delta): as_of={as_of!r} for table {table!r} is not a "
            "Delta version", hint="pass the version a read recorded (DataInput.version), "
            "e.g. as_of='3'",
        ) from None
    return version


def _s3_storage(options: common.LakeOptions) -> dict[str, str]:
    """delta-rs's object-store settings for S3: endpoint and region from the options,
    credentials from the environment (never from the stack's file)."""
    storage: dict[str, str] = {}
    endpoint = common.endpoint_of(options)
    if endpoint:
        storage["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            storage["AWS_ALLOW_HTTP"] = "true"
    storage["AWS_REGION"] = common.region_of(options) or "us-east-1"
    found = common.credentials(options)
    for name, key in (("key", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"),
                      ("token", "AWS_SESSION_TOKEN")):
        if found.get(name):
            storage[key] = found[name]
    if options.profile and not options.access_key_id:
        storage["AWS_PROFILE"] = options.profile
    # no AWS_S3_ALLOW_UNSAFE_RENAME: delta-rs commits with S3's conditional writes
    # (If-None-Match), so concurrent writers never overwrite each other's commit
    storage["timeout"] = f"{int(max(options.connect_timeout, 1))}s"
    storage["connect_timeout"] = f"{int(max(options.connect_timeout, 1))}s"
    return storage

"""The ``iceberg`` source: Apache Iceberg tables through pyiceberg, with a SQL catalog (on
SQLite for one machine, PostgreSQL for a team) and the data on local disk or S3.

A table's version is its current snapshot id; ``as_of`` reads a recorded snapshot again
(time travel) until it is expired. Appends and overwrites are one catalog commit each:
atomic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.builtin.data_lakes import common
from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead

PLUGIN = "iceberg"
INSTALL_HINT = "pip install 'lamina[iceberg]'"
_OPS = {"=": "EqualTo", "==": "EqualTo", "!=": "NotEqualTo", "<": "LessThan",
        "<=": "LessThanOrEqual", ">": "GreaterThan", ">=": "GreaterThanOrEqual",
        "in": "In", "not in": "NotIn"}


class IcebergSource:
    """Iceberg tables of one SQL catalog: table ``T`` is ``NAMESPACE.T`` (``ns.T`` names
    another namespace)."""

    plugin = PLUGIN

    def __init__(self, name: str, options: common.IcebergOptions) -> None:
        try:
            from pyiceberg.catalog.sql import SqlCatalog
        except ImportError:
            raise DataSourceError(
                f"data source {name!r} (iceberg) needs pyiceberg with its SQL catalog, "
                "which is not installed", hint=INSTALL_HINT,
            ) from None
        self.name = name
        self.options = options
        s3 = common.is_s3(options.url)
        if s3:
            warehouse = "s3://" + common.strip_scheme(options.url).rstrip("/")
        else:
            warehouse = "file://" + common.local_root(options.url)
        catalog = options.catalog
        if catalog is None:
            if s3:
                raise DataSourceError(
                    f"data source {name!r} (iceberg): a warehouse on S3 needs a catalog "
                    "database", hint="set catalog = 'postgresql+psycopg://HOST/DB' (or "
                    "'sqlite:////PATH/catalog.db')",
                )
            os.makedirs(common.local_root(options.url), exist_ok=True)
            catalog = f"sqlite:///{os.path.join(common.local_root(options.url), 'catalog.db')}"
        properties = {"uri": catalog, "warehouse": warehouse, **_s3_properties(options, s3)}
        try:
            self.catalog = SqlCatalog(options.catalog_name, **properties)
        except Exception as exc:
            raise DataSourceError(
                f"data source {name!r} (iceberg): cannot open the catalog database "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="check `catalog` (a SQLAlchemy URL) and that its driver is installed",
            ) from None

    def _identifier(self, table: str) -> tuple[str, str]:
        name = common.check_table_name(self.name, table)
        if "/" in name:
            raise DataSourceError(f"data source {self.name!r} (iceberg): table name {name!r} "
                                  "has a '/'", hint="name it TABLE or NAMESPACE.TABLE")
        namespace, _, short = name.rpartition(".")
        return (namespace or self.options.namespace, short)

    def _load(self, table: str) -> Any:
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return self.catalog.load_table(self._identifier(table))
        except (NoSuchTableError, NoSuchNamespaceError):
            raise DataSourceError(
                f"data source {self.name!r} (iceberg): no table {table!r} in catalog "
                f"{self.options.catalog_name!r} (namespace {self._identifier(table)[0]!r})",
                hint="check the name (NAMESPACE.TABLE for another namespace), or write the "
                "table first",
            ) from None
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise

    # ----------------------------------------------------------------------- read

    def read(self, query: str | None = None, *, params: Mapping[str, Any] | None = None,
             table: str | None = None, filter: Any = None,
             columns: Sequence[str] | None = None, as_of: str | None = None) -> DataRead:
        """Read ``table`` (at snapshot ``as_of``) into Arrow. A DNF list or pyiceberg
        expression (or its string form, ``"day = '2026-01-01'"``) prunes files by their
        statistics and partitions; a pyarrow Expression is applied after the scan."""
        import pyarrow.compute as pc

        common.no_query(self.name, PLUGIN, query)
        name = common.check_table_name(self.name, table)
        tbl = self._load(name)
        snapshot = _snapshot_id(self.name, name, as_of)
        if snapshot is not None and tbl.snapshot_by_id(snapshot) is None:
            raise DataSourceError(
                f"data source {self.name!r} (iceberg): snapshot {snapshot} of table {name!r} "
                "no longer exists (expired) or never did",
                hint="read the current snapshot (no as_of), or expire snapshots later",
            )
        post = filter if isinstance(filter, pc.Expression) else None
        row_filter = None if post is not None else self._row_filter(filter)
        available = [f.name for f in tbl.schema().fields]
        cols = common.check_columns(self.name, name, columns, available)
        fields: tuple[str, ...] = ("*",)
        if cols is not None:
            fields = tuple(cols)
            if post is not None:  # the filter may need columns not asked for
                fields = tuple(dict.fromkeys([*cols, *available]))
        try:
            kwargs: dict[str, Any] = {"selected_fields": fields}
            if row_filter is not None:
                kwargs["row_filter"] = row_filter
            if snapshot is not None:
                kwargs["snapshot_id"] = snapshot
            result = tbl.scan(**kwargs).to_arrow()
            if post is not None:
                result = result.filter(post)
                if cols is not None:
                    result = result.select(cols)
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise DataSourceError(
                f"data source {self.name!r} (iceberg): cannot read table {name!r} "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="filter on columns the table has, with values of their type",
            ) from None
        current = snapshot if snapshot is not None else _current(tbl)
        return common.finish_read(source=self.name, plugin=PLUGIN, table_name=name,
                                  result=result, filter=filter, columns=columns,
                                  version=None if current is None else str(current),
                                  version_kind="iceberg")

    def _row_filter(self, value: Any) -> Any:
        import pyiceberg.expressions as e

        if value is None:
            return None
        if isinstance(value, str | e.BooleanExpression):
            return value
        if not isinstance(value, list | tuple):
            raise common.bad_filter(self.name, value)
        ors: list[Any] = []
        for conj in common.dnf_terms(self.name, value):
            ands = [getattr(e, _OPS[op])(column, set(val) if op.endswith("in") else val)
                    for column, op, val in conj]
            ors.append(ands[0] if len(ands) == 1 else e.And(*ands))
        return ors[0] if len(ors) == 1 else e.Or(*ors)

    # ---------------------------------------------------------------------- write

    def write(self, table: str, data: Any, *,
              mode: Literal["append", "overwrite"] = "append") -> int:
        """Commit ``data`` to ``table`` (created, with its namespace, on the first write);
        one atomic snapshot per write. Timestamps with a time zone are stored in UTC (the
        instant is kept, the zone name is not: Iceberg has only UTC)."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        if mode not in ("append", "overwrite"):
            raise DataSourceError(f"data source {self.name!r}: write mode {mode!r} is unknown",
                                  hint="use mode='append' or mode='overwrite'")
        name = common.check_table_name(self.name, table)
        arrow = _to_utc(common.to_arrow(self.name, name, data))
        identifier = self._identifier(name)
        try:
            try:
                tbl = self.catalog.load_table(identifier)
            except (NoSuchTableError, NoSuchNamespaceError):
                self.catalog.create_namespace_if_not_exists(identifier[0])
                tbl = self.catalog.create_table(identifier, schema=arrow.schema)
            if mode == "append":
                tbl.append(arrow)
            else:
                tbl.overwrite(arrow)
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise DataSourceError(
                f"data source {self.name!r} (iceberg): cannot write table {name!r} "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="write columns of the table's names and types (Iceberg has no unsigned "
                "integers, and stores timestamps in microseconds)",
            ) from None
        return int(arrow.num_rows)

    # --------------------------------------------------------------------- checks

    def version_of(self, read: DataInput) -> str | None:
        """The table's current snapshot id."""
        if read.table is None:
            return None
        current = _current(self._load(read.table))
        return None if current is None else str(current)

    def check(self) -> str:
        """Reach the catalog (and the warehouse's bucket); a one-line summary."""
        common.check_s3(self.name, PLUGIN, self.options)
        try:
            namespaces = self.catalog.list_namespaces()
        except Exception as exc:
            raise DataSourceError(
                f"data source {self.name!r} (iceberg): cannot reach the catalog "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="check `catalog` and that its database is up",
            ) from None
        return (f"iceberg catalog {self.options.catalog_name!r}: {len(namespaces)} "
                f"namespaces, warehouse {self.options.url}")


def _current(tbl: Any) -> int | None:
    snap = tbl.current_snapshot()
    return None if snap is None else int(snap.snapshot_id)


def _snapshot_id(source: str, table: str, as_of: str | None) -> int | None:
    if as_of is None:
        return None
    try:
        return int(str(as_of))
    except ValueError:
        raise DataSourceError(
            f"data source {source!r} (iceberg): as_of={as_of!r} for table {table!r} is not a "
            "snapshot id", hint="pass the version a read recorded (DataInput.version)",
        ) from None


def _to_utc(table: Any) -> Any:
    """Timestamps with a zone cast to UTC, in microseconds (what Iceberg stores)."""
    import pyarrow as pa

    fields, changed = [], False
    for field in table.schema:
        kind = field.type
        if pa.types.is_timestamp(kind) and (kind.tz not in (None, "UTC") or kind.unit == "ns"):
            kind = pa.timestamp("us", tz="UTC" if kind.tz else None)
            changed = True
        fields.append(field.with_type(kind))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata)) if changed else table


def _s3_properties(options: common.IcebergOptions, s3: bool) -> dict[str, str]:
    """pyiceberg's FileIO settings: endpoint and region from the options, credentials from
    the environment (never from the stack's file)."""
    if not s3:
        return {}
    props: dict[str, str] = {"s3.region": common.region_of(options) or "us-east-1",
                             "s3.connect-timeout": str(options.connect_timeout)}
    endpoint = common.endpoint_of(options)
    if endpoint:
        props["s3.endpoint"] = endpoint
    found = common.credentials(options)
    for name, key in (("key", "s3.access-key-id"), ("secret", "s3.secret-access-key"),
                      ("token", "s3.session-token")):
        if found.get(name):
            props[key] = found[name]
    return props

"""The point-in-time join, on DuckDB's ASOF JOIN.

For each entity row and each feature view, DuckDB's ASOF LEFT JOIN finds the source row
with the same join keys and the greatest event time at or before the entity's timestamp.
Three rules are layered on top:

* ties: when the view has a created timestamp, the join runs first on the event time
  alone and also returns the event time it matched; :func:`tied_views` checks whether any
  matched (keys, event time) pair has more than one source row. Only then does that view
  run again with the ASOF inequality on one composite key ``(event time, created time)``
  packed into a 128-bit integer, so among rows with the same event time the
  latest-created one is the greatest, hence the one chosen (a null created time counts as
  the oldest). The check is one hash join; the composite key is a costly wide sort key.
  A source whose first rows already have a tie (:func:`sample_has_ties`) goes straight to
  the composite key, so that data with corrections does not pay both joins;
* TTL: the row chosen is the latest one at or before the entity time, so if it is older
  than the TTL every other candidate is too: its values become NULL (``CASE``);
* order: entity rows carry their position and the result is sorted back on it, so rows
  (duplicates included) keep their place; NULL keys or timestamps never match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import FeatureStoreError
from lamina.features.definitions import _TIMESTAMP_TYPES, DTYPES
from lamina.features.sources import literal, quote

if TYPE_CHECKING:
    from lamina.features.definitions import FeatureView

ROW = "__lamina_row"
KEY = "__lamina_k"
_SHIFT = "18446744073709551616"  # 2**64
_ENTITY_LOW = "9223372036854775807"  # 2**63 - 1: above every created-time offset
_CREATED_OFFSET = "4611686018427387904"  # 2**62: makes epoch microseconds non-negative


@attrs.frozen
class ViewRequest:
    """One view of a request: the view, the SQL that scans its source, the features asked
    and the output column name of each."""

    view: FeatureView
    scan: str
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    #: whether the rows matched may have ties on (keys, event time): only then does the
    #: tie rule need the composite key; ``False`` runs the plain ASOF and returns the
    #: matched event time (:func:`matched_column`) for :func:`tied_views` to check
    ties: bool = True

    @property
    def composite(self) -> bool:
        return bool(self.view.created_timestamp_field) and self.ties


def matched_column(index: int) -> str:
    """The result column with the event time of the row matched for view ``index`` (within
    the TTL), present while that view's ties are unchecked."""
    return f"__lamina_m{index}"


def sample_has_ties(con: Any, view: FeatureView, scan: str, rows: int = 100_000) -> bool:
    """Whether the first ``rows`` rows of the source already hold a tie on (keys, event
    time): a source with corrections almost always shows one there, and then the plain
    join and its check (:func:`tied_views`) would be wasted work. Only a shortcut: the
    answer stays exact either way, since the composite key is always right and the plain
    join is always checked."""
    cols = [*view.join_keys, view.timestamp_field]
    keys = ", ".join(quote(c) for c in cols)
    where = " AND ".join(f"{quote(c)} IS NOT NULL" for c in cols)
    found = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM (SELECT {keys} FROM {scan} LIMIT {int(rows)}) "
        f"WHERE {where} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchall()  # fetchall: DuckDB 2 refuses new work while a result is unfinished
    return bool(found and found[0][0])


def tied_views(con: Any, result: Any, requests: Sequence[ViewRequest]) -> list[int]:
    """Indices of the views whose matched rows have a tie: another source row with the
    same join keys and event time, so the tie rule (latest created) must choose.

    Only the pairs (keys, event time) that the plain ASOF actually returned within the TTL
    matter; each has at least one source row, so there is no tie exactly when joining the
    matched result rows back to the source on that pair yields one row per matched row.
    One hash join of the source against at most one entry per entity row: much cheaper
    than the 128-bit composite ASOF key, or than grouping the whole source by (keys,
    event time)."""
    name = "__lamina_result"
    con.register(name, result)
    tied = []
    try:
        for i, req in enumerate(requests):
            if req.composite or not req.view.created_timestamp_field:
                continue
            keys = [quote(k) for k in req.view.join_keys]
            m, vts = quote(matched_column(i)), quote(req.view.timestamp_field)
            on = " AND ".join([f"s.{k} = p.{k}" for k in keys] + [f"s.{vts} = p.{m}"])
            rows = con.execute(
                f"SELECT (SELECT count(*) FROM {name} AS p JOIN {req.scan} AS s ON {on}) "
                f"- (SELECT count({m}) FROM {name})"
            ).fetchall()  # fetchall: DuckDB 2 refuses new work while a result is unfinished
            if rows and rows[0][0]:
                tied.append(i)
    finally:
        con.unregister(name)
    return tied


def connect(threads: int | None = None, memory_limit: str | None = None) -> Any:
    """A fresh in-memory DuckDB connection in UTC (naive timestamps are taken as UTC)."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise FeatureStoreError(
            "the feature store's point-in-time engine needs DuckDB, which is not installed",
            hint="pip install 'lamina[features]'  (or: pip install 'duckdb>=1.1')",
        ) from None
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit={literal(memory_limit)}")
    return con


def describe(con: Any, sql: str) -> dict[str, str]:
    """Column name -> DuckDB type of a table expression (reads only metadata)."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    return {r[0]: str(r[1]) for r in rows}


def _family(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith(("VARCHAR", "STRING")):
        return "string"
    if t in DTYPES["int"] or t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL"):
        return "number"
    if t in _TIMESTAMP_TYPES:
        return "timestamp"
    return t


def check_source(view: FeatureView, columns: dict[str, str], where: str) -> None:
    """The source has the view's keys, timestamps and features, with the declared types."""

    def missing(col: str, what: str) -> FeatureStoreError:
        from lamina.kernel.suggest import did_you_mean

        return FeatureStoreError(
            f"feature view {view.name!r}: {what} column {col!r} is not in its source "
            f"{where}{did_you_mean(col, list(columns))}",
            hint=f"the source's columns are: {', '.join(columns)}; fix the definition or "
            "the data",
        )

    for key in view.join_keys:
        if key not in columns:
            raise missing(key, "join key")
    for field, what in ((view.timestamp_field, "timestamp"),
                        (view.created_timestamp_field, "created timestamp")):
        if field is None:
            continue
        if field not in columns:
            raise missing(field, what)
        if columns[field].upper() not in _TIMESTAMP_TYPES:
            raise FeatureStoreError(
                f"feature view {view.name!r}: {what} column {field!r} of {where} has type "
                f"{columns[field]}, not a timestamp",
                hint="store it as a Parquet timestamp (pandas datetime64), or name another "
                "column in the definition",
            )
    for feature in view.features:
        if feature.name not in columns:
            raise missing(feature.name, "feature")
        actual = columns[feature.name].upper()
        if actual not in DTYPES[feature.dtype]:
            raise FeatureStoreError(
                f"feature view {view.name!r}: feature {feature.name!r} is declared "
                f"{feature.dtype} but column {feature.name!r} of {where} is {actual}",
                hint=f'declare Feature("{feature.name}", ...) with the type of the data, '
                "or cast the column in the source",
            )


def check_entities(
    columns: dict[str, str], timestamp_column: str, requests: Sequence[ViewRequest],
    sources: dict[str, dict[str, str]],
) -> None:
    """The entity rows have the timestamp and every join key, with compatible types."""
    if timestamp_column not in columns:
        raise FeatureStoreError(
            f"entity rows have no timestamp column {timestamp_column!r} (columns: "
            f"{', '.join(columns)})",
            hint="pass timestamp_column='...' naming the column with each row's time",
        )
    if columns[timestamp_column].upper() not in _TIMESTAMP_TYPES:
        raise FeatureStoreError(
            f"entity rows: timestamp column {timestamp_column!r} has type "
            f"{columns[timestamp_column]}, not a timestamp",
            hint="convert it, e.g. pandas.to_datetime(df[col])",
        )
    for req in requests:
        for key in req.view.join_keys:
            if key not in columns:
                raise FeatureStoreError(
                    f"entity rows lack join key {key!r} of feature view {req.view.name!r} "
                    f"(columns: {', '.join(columns)})",
                    hint=f"add a {key!r} column to the entity rows",
                )
            a, b = _family(columns[key]), _family(sources[req.view.name][key])
            if a != b:
                raise FeatureStoreError(
                    f"feature view {req.view.name!r}: join key {key!r} is {columns[key]} in "
                    f"the entity rows but {sources[req.view.name][key]} in the source",
                    hint="cast one side so both have the same type",
                )


def build_query(
    entity_sql: str,
    entity_columns: Sequence[str],
    timestamp_column: str,
    requests: Sequence[ViewRequest],
    order_by: str = ROW,
) -> str:
    """The SQL of the point-in-time join (see the module docstring)."""
    ts = quote(timestamp_column)
    needs_key = any(r.composite for r in requests)
    extra = (
        f", (epoch_us({ts})::HUGEINT * {_SHIFT}) + {_ENTITY_LOW} AS {KEY}" if needs_key else ""
    )
    select = [f"e.{quote(c)}" for c in entity_columns]
    joins = []
    for i, req in enumerate(requests):
        alias = f"v{i}"
        view = req.view
        vts = quote(view.timestamp_field)
        cols = {*view.join_keys, view.timestamp_field, *req.features}
        if req.composite:
            cts = quote(view.created_timestamp_field or "")
            src = (
                f"(SELECT {', '.join(quote(c) for c in sorted(cols))}, "
                f"(epoch_us({vts})::HUGEINT * {_SHIFT}) + "
                f"(coalesce(epoch_us({cts}), -{_CREATED_OFFSET}) + {_CREATED_OFFSET}) AS {KEY} "
                f"FROM {req.scan})"
            )
            cond = f"e.{KEY} >= {alias}.{KEY}"
        else:
            src = req.scan
            cond = f"e.{ts} >= {alias}.{vts}"
        on = " AND ".join(
            [f"e.{quote(k)} = {alias}.{quote(k)}" for k in view.join_keys] + [cond]
        )
        joins.append(f"ASOF LEFT JOIN {src} AS {alias} ON {on}")
        ttl = view.ttl_seconds
        columns = [(f"{alias}.{quote(f)}", quote(out))
                   for f, out in zip(req.features, req.outputs, strict=True)]
        if view.created_timestamp_field and not req.composite:
            columns.append((f"{alias}.{vts}", quote(matched_column(i))))
        for col, out in columns:
            if ttl is not None:
                micros = round(ttl * 1_000_000)
                col = (
                    f"CASE WHEN {alias}.{vts} >= e.{ts} - to_microseconds({micros}) "
                    f"THEN {col} END"
                )
            select.append(f"{col} AS {out}")
    return (
        f"SELECT {', '.join(select)} FROM (SELECT *{extra} FROM {entity_sql}) AS e "
        + " ".join(joins)
        + f" ORDER BY e.{order_by}"
    )


def entity_scan(con: Any, entities: Any) -> tuple[str, list[str], Any]:
    """Register the entity rows on ``con``: (SQL expression with a row-position column,
    the user's columns in order, an object to keep alive while the query runs)."""
    from lamina.features.sources import is_table, scan_sql, to_arrow

    if isinstance(entities, str):
        base = scan_sql(con, entities)
        cols = list(describe(con, base))
        sql = base[:-1] + ", file_row_number=true, filename=true)"
        # one position across several files: file name first, then row within the file
        sql = (f"(SELECT * EXCLUDE (file_row_number, filename), "
               f"row_number() OVER (ORDER BY filename, file_row_number) AS {ROW} FROM {sql})"
               if any(ch in entities for ch in "*?[") else
               f"(SELECT * EXCLUDE (file_row_number, filename), file_row_number AS {ROW} "
               f"FROM {sql})")
        return sql, cols, None
    if not is_table(entities):
        raise FeatureStoreError(
            f"entity rows of type {type(entities).__name__} are not supported",
            hint="pass a pyarrow.Table, a pandas.DataFrame, or the path/URL of a Parquet file",
        )
    import pyarrow as pa

    table = to_arrow(entities)
    cols = list(table.column_names)
    if ROW in cols:
        table = table.drop_columns([ROW])
        cols.remove(ROW)
    try:
        import numpy as np

        positions = pa.array(np.arange(table.num_rows, dtype=np.int64))
    except ImportError:  # pragma: no cover - numpy comes with pandas almost always
        positions = pa.array(range(table.num_rows), pa.int64())
    table = table.append_column(ROW, positions)
    name = "__lamina_entities"
    con.register(name, table)
    return name, cols, table


def fetch_arrow(con: Any, sql: str) -> Any:
    """Run ``sql`` and return an Arrow table (DuckDB 1.x and 2.x)."""
    rel = con.sql(sql)
    to_table = getattr(rel, "to_arrow_table", None) or rel.arrow
    result = to_table()
    if hasattr(result, "read_all"):  # a RecordBatchReader
        result = result.read_all()
    return result

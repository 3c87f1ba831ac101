"""The point-in-time join, on DuckDB's ASOF JOIN.

For each entity row and each feature view, DuckDB's ASOF LEFT JOIN finds the source row
with the same join keys and the greatest event time at or before the entity's timestamp.
Three rules are layered on top, each priced against the bare ASOF JOIN (the benchmark in
docs/benchmarks.md, section features_pit):

* TTL: the row chosen is the latest one at or before the entity time, so if it is older
  than the TTL every other candidate is too: its values become NULL (``CASE``; free);
* ties: when the view has a created timestamp, the ASOF also returns the (keys, event
  time) pair it matched within the TTL. The event time is right whichever tied row DuckDB
  picked, and so is the TTL, which depends on it alone; only which row of the pair is
  read can be wrong. :func:`has_ties` proves with one hash join of the matched pairs
  against the source (a 64-bit hash of keys and event time) that no pair has a second
  source row, and only if one may have does :func:`resolve_ties` read, for the rows
  matched to a tied pair, the values of the pair's latest-created row (a null created
  time counts as the oldest). No composite (event, created) ASOF key: as a 128-bit
  integer or a struct it made the ASOF 2-3x slower, and no 64-bit packing of two
  microsecond timestamps is exact. When the view was applied, its source was scanned
  once for repeated (keys, event time) pairs; a source version (its files' sizes and
  modification times) known to have none skips all of this (``ViewRequest.source_ties``);
* order: the join returns the entity position (:data:`ROW`) and the feature columns, in
  DuckDB's order (a Parquet file of entity rows is read again after the join). Each
  column is scattered to its position in O(n) (``lamina.features.reorder``) instead of
  an ``ORDER BY`` (a sort of every column, the largest cost lamina added), once the
  DuckDB connection is closed. Rows, duplicates included, keep their place; NULL keys or
  timestamps never match.

Python objects never become Arrow arrays on this path (positions come from DuckDB, values
are read from Arrow buffers): pyarrow imports pandas for that, ~0.4 s in a fresh process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import FeatureStoreError
from lamina.features.definitions import _TIMESTAMP_TYPES, DTYPES
from lamina.features.sources import quote

if TYPE_CHECKING:
    from lamina.features.definitions import FeatureView

ROW = "__lamina_row"


@attrs.frozen
class ViewRequest:
    """One view of a request: the view, the SQL that scans its source, the features asked
    and the output column name of each."""

    view: FeatureView
    scan: str
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    #: what is known of this version of the source: ``False`` when no two of its rows
    #: share keys and event time (learned when the view was applied, see
    #: :func:`lamina.features.sources.has_repeated_times`), else ``True`` or ``None``
    source_ties: bool | None = None
    #: where the source's rows are, for the numpy engine: an Arrow table, or a local
    #: path, directory or glob of Parquet files (``scan`` is then empty)
    origin: Any = None
    #: the DuckDB type of the source's event timestamp (see :func:`comparable_times`)
    time_type: str = "TIMESTAMP"

    @property
    def tie_rule(self) -> bool:
        """Whether ties on event time may have to be broken by the created timestamp: the
        view has one, and its source is not known to be free of ties."""
        return bool(self.view.created_timestamp_field) and self.source_ties is not False


def matched_column(index: int) -> str:
    """The result column with the event time of the row matched for view ``index`` (within
    the TTL), present for views with a created timestamp until the ties are resolved."""
    return f"__lamina_m{index}"


def matched_key_column(index: int, key: int) -> str:
    """The result column with join key number ``key`` of the matched source row (equal
    to the entity row's, in the source's type), present with :func:`matched_column`."""
    return f"__lamina_m{index}_k{key}"


def matched_columns(requests: Sequence[ViewRequest]) -> list[str]:
    """Every column :func:`build_query` adds for :func:`resolve_ties` to use."""
    out = []
    for i, req in enumerate(requests):
        if req.tie_rule:
            out.append(matched_column(i))
            out.extend(matched_key_column(i, k) for k in range(len(req.view.join_keys)))
    return out


RESULT = "__lamina_result"


def _pairs_join(i: int, req: ViewRequest) -> str:
    """``FROM`` clause: the distinct matched (keys, event time) pairs of view ``i`` in the
    registered result, joined to every source row with the same pair."""
    m, vts = quote(matched_column(i)), quote(req.view.timestamp_field)
    keys = [quote(matched_key_column(i, j)) for j in range(len(req.view.join_keys))]
    on = " AND ".join([f"s.{quote(k)} = p.{kc}" for k, kc in zip(req.view.join_keys, keys,
                                                                    strict=True)]
                      + [f"s.{vts} = p.{m}"])
    return (f"(SELECT DISTINCT {', '.join(keys)}, {m} FROM {RESULT} "
            f"WHERE {m} IS NOT NULL) AS p JOIN {req.scan} AS s ON {on}")


def has_ties(con: Any, i: int, req: ViewRequest) -> bool:
    """Whether a row matched for view ``i`` may have a tie: another source row with the
    same join keys and event time, among which the tie rule (latest created) must choose.

    Only the pairs (keys, event time) that the ASOF actually returned within the TTL
    matter, and each has at least one source row: its own. So joining the matched rows
    to the source on a 64-bit hash of the pair yields at least one row per matched row,
    and exactly one only if no other source row has the same pair: ``False`` is then
    exact. A hash collision can only give ``True``, which costs the exact resolution
    (:func:`resolve_ties`) and changes nothing. One hash join of the source (keys and
    event time only, hashed into one column: ~20 % cheaper than joining on the columns)
    against at most one entry per entity row; much cheaper than a composite (event,
    created) ASOF key, or than grouping the whole source by (keys, event time)."""
    m = quote(matched_column(i))
    mine = ", ".join([*(quote(matched_key_column(i, j))
                        for j in range(len(req.view.join_keys))), m])
    theirs = ", ".join(quote(c) for c in [*req.view.join_keys, req.view.timestamp_field])
    rows = con.execute(
        f"SELECT (SELECT count(*) FROM (SELECT hash({mine}) AS h FROM {RESULT} "
        f"WHERE {m} IS NOT NULL) AS p JOIN (SELECT hash({theirs}) AS h FROM {req.scan}) "
        f"AS s ON s.h = p.h) - (SELECT count({m}) FROM {RESULT})"
    ).fetchall()  # fetchall: DuckDB 2 refuses new work while a result is unfinished
    return bool(rows and rows[0][0])


def resolve_ties(con: Any, result: Any, requests: Sequence[ViewRequest]) -> Any:
    """``result`` with the tie rule applied: for each view with a created timestamp whose
    matched rows have ties (:func:`has_ties`), the rows matched to a tied pair get the
    values of the pair's latest-created source row (a null created time counts as the
    oldest). The ASOF already chose the right event time, and the TTL depends on it
    alone, so only which row of the pair is read can change; nothing else is touched.
    With no tie (the usual case) this costs one hash join per such view."""
    if not any(r.tie_rule for r in requests):
        return result
    con.register(RESULT, result)
    try:
        for i, req in enumerate(requests):
            if not req.tie_rule or not has_ties(con, i, req):
                continue
            vts = quote(req.view.timestamp_field)
            cts = quote(req.view.created_timestamp_field or "")
            part = ", ".join([*(f"s.{quote(k)}" for k in req.view.join_keys), f"s.{vts}"])
            fixes = [f"__lamina_fix{j}" for j in range(len(req.features))]
            pair = [quote(matched_key_column(i, j)) for j in range(len(req.view.join_keys))]
            pair.append(quote(matched_column(i)))
            winners = (
                f"SELECT {', '.join(f'p.{c}' for c in pair)}, "
                + ", ".join(f"s.{quote(f)} AS {x}" for f, x in zip(req.features, fixes,
                                                                   strict=True))
                + f" FROM {_pairs_join(i, req)} "
                f"QUALIFY count(*) OVER (PARTITION BY {part}) > 1 AND row_number() OVER "
                f"(PARTITION BY {part} ORDER BY s.{cts} DESC NULLS LAST) = 1"
            )
            on = " AND ".join(f"w.{c} = r.{c}" for c in pair)
            fixed = dict(zip(req.outputs, fixes, strict=True))
            select = ", ".join(
                f"CASE WHEN w.{quote(matched_column(i))} IS NULL THEN r.{quote(c)} "
                f"ELSE w.{fixed[c]} END AS {quote(c)}" if c in fixed else f"r.{quote(c)}"
                for c in result.column_names)
            result = fetch_arrow(con, f"SELECT {select} FROM {RESULT} AS r LEFT JOIN "
                                      f"({winners}) AS w ON {on}")
            con.unregister(RESULT)
            con.register(RESULT, result)
    finally:
        con.unregister(RESULT)
    return result


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


_AWARE = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMP_NS"}
# a nanosecond type and the microsecond type of the same kind
_NANOS = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMP WITH TIME ZONE"}
# what nanoseconds in 64 bits can hold, in microseconds since the epoch
_NANOS_RANGE_US = (-(2**63) // 1000 + 1, (2**63 - 1) // 1000)


def comparable_times(entity: str, entity_type: str, source: str, source_type: str,
                     entity_in_micros: bool = False) -> tuple[str, str]:
    """The two timestamp expressions, made comparable: DuckDB compares a time-zone-aware
    timestamp with a naive one only when neither is in nanoseconds, so when one side is
    aware and the other naive, the aware one is compared as its UTC wall-clock time (the
    connection is in UTC, and naive times are taken as UTC: the same instants).

    DuckDB compares two units in the finer one, and nanoseconds hold only the years 1677
    to 2262: a source in seconds with a time in 2500 fails against nanosecond entity
    times. With ``entity_in_micros`` (every entity time is a whole microsecond, checked
    by :func:`entity_times_in_micros`), nanosecond entity times are compared in
    microseconds with a coarser source: the same answer, for any year."""
    a, b = entity_type.upper(), source_type.upper()
    if (a in _AWARE) != (b in _AWARE):
        if a in _AWARE:
            entity, a = f"CAST({entity} AS {_AWARE[a]})", _AWARE[a]
        else:
            source, b = f"CAST({source} AS {_AWARE[b]})", _AWARE[b]
    if entity_in_micros and a in _NANOS and b not in _NANOS:
        entity = f"CAST({entity} AS {_NANOS[a]})"
    return entity, source


def needs_micros(entity_type: str, requests: Sequence[ViewRequest]) -> bool:
    """Whether nanosecond entity times meet a source in a coarser unit (see
    :func:`comparable_times`)."""
    return entity_type.upper() in _NANOS and any(
        r.time_type.upper() not in _NANOS for r in requests)


def entity_times_in_micros(con: Any, entities: EntityRows, timestamp_column: str) -> bool:
    """Whether every (non-null) entity time is a whole microsecond: one scan of the
    column, made only for nanosecond entity times against a coarser source."""
    col = quote(timestamp_column)
    rows = con.execute(
        f"SELECT count(*) FROM {entities.sql} WHERE epoch_ns({col}) % 1000 <> 0 LIMIT 1"
    ).fetchall()
    return not rows[0][0]


def _outside_nanos(con: Any, table: str, column: str) -> tuple[Any, Any] | None:
    """(earliest, latest) of ``column`` when one of its times is beyond what nanoseconds
    can hold, else None."""
    low, high = _NANOS_RANGE_US
    col = f"CAST({quote(column)} AS TIMESTAMP)"  # microseconds, whatever the unit
    row = con.execute(
        f"SELECT min({col})::VARCHAR, max({col})::VARCHAR, count(*) FILTER (WHERE "
        f"epoch_us({col}) < {low} OR epoch_us({col}) > {high}) FROM {table}"
    ).fetchall()[0]
    return (row[0], row[1]) if row[2] else None


def out_of_nanos_range(con: Any, entities: EntityRows, timestamp_column: str,
                       requests: Sequence[ViewRequest]) -> FeatureStoreError | None:
    """The error for times DuckDB cannot compare ("Could not convert Timestamp to higher
    precision"): one side in nanoseconds, the other with a time beyond 1677-2262 that
    would have to be converted to nanoseconds. Names the column and its range."""
    nanos = "1677-09-21 to 2262-04-11"
    entity_ns = entities.types[timestamp_column].upper() in _NANOS
    for req in requests:
        view, field = req.view, req.view.timestamp_field
        source_ns = req.time_type.upper() in _NANOS
        if entity_ns and not source_ns:
            bad = _outside_nanos(con, req.scan, field)
            if bad is not None:
                return FeatureStoreError(
                    f"feature view {view.name!r}: source column {field!r} holds times from "
                    f"{bad[0]} to {bad[1]}, beyond what the entity rows' nanosecond "
                    f"timestamp column {timestamp_column!r} can hold ({nanos}), and some "
                    f"entity times are not whole microseconds, so the two cannot be "
                    f"compared exactly",
                    hint=f"round the entity rows' {timestamp_column!r} to microseconds "
                    f"(cast it to timestamp[us]): lamina then compares in microseconds",
                )
        if source_ns and not entity_ns:
            bad = _outside_nanos(con, entities.sql, timestamp_column)
            if bad is not None:
                return FeatureStoreError(
                    f"the entity rows' timestamp column {timestamp_column!r} holds times "
                    f"from {bad[0]} to {bad[1]}, beyond what the nanosecond source column "
                    f"{field!r} of feature view {view.name!r} can hold ({nanos})",
                    hint=f"store the source's {field!r} in microseconds, or drop the "
                    f"entity rows outside {nanos}",
                )
    return None


def build_query(
    entity_sql: str,
    entity_columns: Sequence[str],
    timestamp_column: str,
    requests: Sequence[ViewRequest],
    entity_time_type: str = "TIMESTAMP",
    entity_in_micros: bool = False,
) -> str:
    """The SQL of the point-in-time join (see the module docstring). Rows come back in no
    particular order: select :data:`ROW` among ``entity_columns`` to put them in place
    after (:class:`lamina.features.reorder.InPlace`)."""
    select = [f"e.{quote(c)}" for c in entity_columns]
    joins = []
    for i, req in enumerate(requests):
        alias = f"v{i}"
        view = req.view
        ets, vts = comparable_times(f"e.{quote(timestamp_column)}", entity_time_type,
                                    f"{alias}.{quote(view.timestamp_field)}", req.time_type,
                                    entity_in_micros)
        on = " AND ".join(
            [f"e.{quote(k)} = {alias}.{quote(k)}" for k in view.join_keys]
            + [f"{ets} >= {vts}"]
        )
        joins.append(f"ASOF LEFT JOIN {req.scan} AS {alias} ON {on}")
        ttl = view.ttl_seconds
        columns = [(f"{alias}.{quote(f)}", quote(out))
                   for f, out in zip(req.features, req.outputs, strict=True)]
        if req.tie_rule:  # the source's own column, to join back to the source
            columns.append((f"{alias}.{quote(view.timestamp_field)}",
                            quote(matched_column(i))))
        for col, out in columns:
            if ttl is not None:
                micros = round(ttl * 1_000_000)
                col = (
                    f"CASE WHEN {vts} >= {ets} - to_microseconds({micros}) "
                    f"THEN {col} END"
                )
            select.append(f"{col} AS {out}")
        if req.tie_rule:  # the source's keys (equal to the entity's where matched),
            # so that they hash like the source's own columns (has_ties)
            select.extend(f"{alias}.{quote(k)} AS {quote(matched_key_column(i, j))}"
                          for j, k in enumerate(view.join_keys))
    return (
        f"SELECT {', '.join(select)} FROM {entity_sql} AS e "
        + " ".join(joins)
    )


@attrs.frozen
class EntityRows:
    """The entity rows of a request, registered on a connection (:func:`entity_scan`)."""

    #: SQL table expression of the rows with their position :data:`ROW` (0, 1, ...)
    sql: str
    #: the user's columns, in order, with their DuckDB types
    types: dict[str, str]
    #: how many rows there are
    num_rows: int
    #: the Arrow table the rows came from (registered, so kept alive), or ``None`` for
    #: Parquet
    table: Any = None
    #: the Parquet path or URL, and whether it names several files
    url: str | None = None
    several: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """The user's columns, in order."""
        return tuple(self.types)

    def read(self, con: Any) -> Any:
        """The entity rows of a Parquet source as an Arrow table of the user's columns, in
        their order, read on ``con``."""
        from lamina.features.sources import scan_sql

        assert self.url is not None
        base = scan_sql(con, self.url)
        if not self.several:  # a plain scan keeps the file's order (preserve_insertion_order)
            table = fetch_arrow(con, f"SELECT * FROM {base}")
        else:
            table = fetch_arrow(
                con, f"SELECT * EXCLUDE (file_row_number, filename) FROM "
                f"{base[:-1]}, file_row_number=true, filename=true) "
                "ORDER BY filename, file_row_number")
        return restore_types(table, parquet_schema(self.url))


def parquet_schema(url: str) -> Any:
    """The Arrow schema pyarrow reads from the (first) Parquet file ``url`` names: the
    entity rows' own types, which DuckDB does not keep (it returns every timestamp in
    microseconds or nanoseconds and in UTC, strings as ``string``, categoricals decoded).
    ``None`` when it cannot be read."""
    import pyarrow.parquet as pq

    from lamina.features.sources import LOCAL_SCHEMES, list_files, local_files, split_url

    proto, path = split_url(url)
    try:
        if proto in LOCAL_SCHEMES:
            files = local_files(path)
            return pq.read_schema(files[0]) if files else None
        fs, files = list_files(url)
        if not files:
            return None
        with fs.open(files[0], "rb") as handle:
            return pq.read_schema(handle)
    except Exception:  # the rows were just read: keep DuckDB's types rather than fail
        return None


def restore_types(table: Any, schema: Any) -> Any:
    """``table`` with each column cast back to its type in ``schema`` where they differ
    (a timestamp's unit and time zone: the same instants; ``large_string``; a dictionary).
    A cast that would lose anything is not made."""
    import pyarrow as pa

    if schema is None:
        return table
    columns, changed = list(table.columns), False
    for i, name in enumerate(table.column_names):
        index = schema.get_field_index(name)
        if index < 0 or schema.field(index).type == columns[i].type:
            continue
        try:
            columns[i] = columns[i].cast(schema.field(index).type)  # safe: never truncates
            changed = True
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.Table.from_arrays(columns, names=table.column_names) if changed else table


def entity_scan(con: Any, entities: Any) -> EntityRows:
    """Register the entity rows on ``con`` with a row-position column :data:`ROW`.

    A Parquet file whose columns the join reads anyway (keys, timestamp) has them go
    through it with the position, put back in order with the features; a wider one is
    read again after the join (:meth:`EntityRows.read`); an Arrow table or pandas frame
    is used as given, and only its positions go through. The positions of an
    in-memory table come from DuckDB, not from Python objects: building an Arrow array
    from Python makes pyarrow import pandas, which costs more than the reordering."""
    from lamina.features.sources import is_table, scan_sql, to_arrow

    if isinstance(entities, str):
        try:
            plain = scan_sql(con, entities)
            rows = con.execute(f"SELECT count(*) FROM {plain}").fetchall()[0][0]
        except Exception as exc:  # metadata only: a missing or broken file stops here
            from lamina.features.sources import unreadable_entities

            missing = "No files found" in str(exc)
            raise unreadable_entities(entities, None if missing else exc) from exc
        base = plain[:-1] + ", file_row_number=true"
        several = any(ch in entities for ch in "*?[")
        if several:  # one position across files: file name first, then row in the file
            sql = (f"(SELECT * EXCLUDE (file_row_number, filename), "
                   f"row_number() OVER (ORDER BY filename, file_row_number) - 1 AS {ROW} "
                   f"FROM {base}, filename=true))")
        else:
            sql = f"(SELECT * EXCLUDE (file_row_number), file_row_number AS {ROW} FROM {base}))"
        types = {c: t for c, t in describe(con, sql).items() if c != ROW}
        return EntityRows(sql, types, int(rows), url=entities, several=several)
    if not is_table(entities):
        raise FeatureStoreError(
            f"entity rows of type {type(entities).__name__} are not supported",
            hint="pass a pyarrow.Table, a pandas.DataFrame, or the path/URL of a Parquet file",
        )
    table = to_arrow(entities)
    if ROW in table.column_names:
        table = table.drop_columns([ROW])
    positions = fetch_arrow(con, f"SELECT range AS {ROW} FROM range({table.num_rows})")
    table = table.append_column(ROW, positions.column(ROW))
    name = "__lamina_entities"
    con.register(name, table)
    types = {c: t for c, t in describe(con, name).items() if c != ROW}
    return EntityRows(name, types, table.num_rows, table)


def point_in_time(con: Any, entities: EntityRows, timestamp_column: str,
                  requests: Sequence[ViewRequest]) -> Any:
    """The whole join: the ASOF join, the tie rule where a matched row has a tie
    (:func:`resolve_ties`), the rows put in entity order. An Arrow table.

    ``con`` is closed as soon as DuckDB's work is done (or failed), before the rows are
    put in place (:class:`lamina.features.reorder.InPlace`): closing returns the memory
    DuckDB keeps after a query, so the placed columns hardly add to the peak. A Parquet
    file of entity rows is read again, in order, rather than carried through the join's
    sort (measured: no slower)."""
    import pyarrow as pa

    from lamina.features.reorder import InPlace

    entity_type = entities.types[timestamp_column]
    try:
        micros = (needs_micros(entity_type, requests)
                  and entity_times_in_micros(con, entities, timestamp_column))
        sql = build_query(entities.sql, [ROW], timestamp_column, requests, entity_type,
                          micros)
        try:
            joined = fetch_arrow(con, sql)
        except Exception as exc:
            if "higher precision" in str(exc):
                clear = out_of_nanos_range(con, entities, timestamp_column, requests)
                if clear is not None:
                    raise clear from exc
            raise
        result = resolve_ties(con, joined, requests)
        given = (entities.table.drop_columns([ROW]) if entities.table is not None
                 else entities.read(con))
    finally:
        con.close()
    result = result.drop_columns(matched_columns(requests))
    placed = InPlace(entities.num_rows, result.schema, ROW)
    for batch in result.to_batches():
        placed.add(batch)
    del result
    columns = placed.finish()
    del placed
    if given.num_rows != entities.num_rows:  # pragma: no cover - a file changed meanwhile
        raise FeatureStoreError(
            f"the entity rows changed during the join ({entities.num_rows} rows, then "
            f"{given.num_rows})", hint="do not rewrite the entity file while it is joined")
    return pa.Table.from_arrays([*given.columns, *columns.values()],
                                names=[*given.column_names, *columns])


def fetch_arrow(con: Any, sql: str) -> Any:
    """Run ``sql`` and return an Arrow table (DuckDB 1.x and 2.x)."""
    rel = con.sql(sql)
    to_table = getattr(rel, "to_arrow_table", None) or rel.arrow
    result = to_table()
    if hasattr(result, "read_all"):  # a RecordBatchReader
        result = result.read_all()
    return result

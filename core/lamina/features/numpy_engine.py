"""The point-in-time join in process, with numpy: one sort of the source, one binary search.

The keys and the event time of a source row pack into one 64-bit integer (each key less
its minimum, the time less its minimum, mixed radix; strings are replaced by their index
among the source's distinct values), so that "same keys, latest event time at or before
t" becomes "the greatest packed value at or before the entity row's": a ``searchsorted``
on the sorted source. The rules of the DuckDB engine (:mod:`lamina.features.engine`) hold
the same way:

* the row found must have the entity's keys (the same block of packed values) and an
  event time no older than the TTL, else the features are NULL;
* ties on (keys, event time) sit next to each other once sorted; a row found next to an
  equal one is replaced by its run's latest-created row (a null created time counts as
  the oldest; equal created times, or no created column: the last in source order);
* the entity rows are never moved: each gets the index of its source row (or none), and
  every feature column is gathered by those indices, in the entity order.

No database is opened (the column checks run on the Arrow schemas, :func:`arrow_types`),
nothing is put back in order afterwards, and only the key and time columns of the source
are read before the match (docs/benchmarks.md, features_pit, for what that saves).

It takes what packs: local Parquet files or Arrow tables; integer, string or whole float
keys; timestamp columns; and keys and times whose ranges multiply below 2**62 (a time
column in a finer unit than its values need is divided down first, e.g. nanoseconds that
are whole microseconds; integer keys spread too wide are replaced by their index among
the source's distinct values, as strings are). Anything else raises :class:`Unsuited`, and the store then
uses DuckDB (or, with ``engine = "numpy"``, says why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lamina.features import buffers, sources
from lamina.features.definitions import _TIMESTAMP_TYPES

if TYPE_CHECKING:
    from lamina.features.definitions import FeatureView
    from lamina.features.engine import ViewRequest

#: DuckDB names of the key types the numpy engine packs (:func:`_key_pair`)
_KEYS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT",
         "DOUBLE", "FLOAT", "VARCHAR")
#: DuckDB names of timestamps with an Arrow unit (not DATE)
_TIMES = tuple(t for t in _TIMESTAMP_TYPES if t != "DATE")
_LIMIT = 1 << 62  # packed values stay below this, so sums and clipping cannot overflow
_NANOS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class Unsuited(Exception):
    """The numpy engine cannot run this request (the message says why, naming the view
    and the column): the DuckDB engine is used instead."""


class DoesNotPack(Unsuited):
    """The key and time ranges of a view multiply past 62 bits."""


def entity_input(entities: Any) -> tuple[_Columns, dict[str, str]]:
    """(the entity rows to read, their column types) for an Arrow table, a pandas frame
    or local Parquet files."""
    if isinstance(entities, str):
        if not _local(entities):
            raise Unsuited(f"the entity rows are not local files ({entities})")
        rows = _Columns(entities)
        if not rows.files:
            raise sources.unreadable_entities(entities)
        try:
            return rows, arrow_types(rows.schema)
        except Exception as exc:
            raise sources.unreadable_entities(entities, exc) from exc
    elif sources.is_table(entities):
        rows = _Columns(sources.to_arrow(entities))
    else:
        raise Unsuited(f"entity rows of type {type(entities).__name__}")
    return rows, arrow_types(rows.schema)


def source_types(view: FeatureView, origin: Any) -> dict[str, str]:
    """The column types of a view's source: an Arrow table or local Parquet files."""
    if isinstance(origin, str) and not _local(origin):
        raise Unsuited(f"the source of feature view {view.name!r} is not local "
                       f"({view.source})")
    try:
        return arrow_types(_Columns(origin).schema)
    except Exception as exc:
        raise sources.unreachable(view, view.source, exc) from exc


def check_suited(entity_types: dict[str, str], timestamp_column: str,
                 requests: Sequence[ViewRequest], source_types: dict[str, dict[str, str]]
                 ) -> None:
    """:class:`Unsuited` unless the column types suit this engine (the ranges are known
    only once the keys are read: :func:`match`)."""
    if entity_types[timestamp_column].upper() not in _TIMES:
        raise Unsuited(f"the entity rows' timestamp column {timestamp_column!r} is "
                       f"{entity_types[timestamp_column]}")
    for req in requests:
        view, types = req.view, source_types[req.view.name]
        for key in view.join_keys:
            for side, kind in ((entity_types, "entity rows"), (types, "source")):
                if side[key].upper() not in _KEYS:
                    raise Unsuited(f"join key {key!r} of feature view {view.name!r} is "
                                   f"{side[key]} in the {kind}")
        for field in (view.timestamp_field, view.created_timestamp_field):
            if field is not None and types[field].upper() not in _TIMES:
                raise Unsuited(f"column {field!r} of feature view {view.name!r} is "
                               f"{types[field]}")


def arrow_types(schema: Any) -> dict[str, str]:
    """Column name -> its type as DuckDB names it, for the checks shared with the DuckDB
    engine (:func:`lamina.features.engine.check_source`, ``check_entities``)."""
    return {field.name: _duck_name(field.type) for field in schema}


_INTS = {(True, 8): "TINYINT", (True, 16): "SMALLINT", (True, 32): "INTEGER",
         (True, 64): "BIGINT", (False, 8): "UTINYINT", (False, 16): "USMALLINT",
         (False, 32): "UINTEGER", (False, 64): "UBIGINT"}
_STAMPS = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}


def _duck_name(arrow_type: Any) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        return _duck_name(t.value_type)
    if pa.types.is_integer(t):
        return _INTS[(pa.types.is_signed_integer(t), t.bit_width)]
    if pa.types.is_floating(t):
        return {32: "FLOAT", 64: "DOUBLE"}.get(t.bit_width, "HALF_FLOAT")
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return "VARCHAR"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return _STAMPS[t.unit]
        return "TIMESTAMPTZ_NS" if t.unit == "ns" else "TIMESTAMP WITH TIME ZONE"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    return str(t).upper()


def _local(url: str) -> bool:
    return sources.split_url(url)[0] in sources.LOCAL_SCHEMES


class _Columns:
    """Columns read on demand from an Arrow table or from local Parquet files (in name
    order, as one table), without pyarrow's dataset layer (which imports pandas)."""

    def __init__(self, origin: Any) -> None:
        self.table = None if isinstance(origin, str) else origin
        self.files = (sources.local_files(sources.split_url(origin)[1])
                      if isinstance(origin, str) else [])

    @property
    def schema(self) -> Any:
        """The Arrow schema (of the first file: the files of one source share it)."""
        import pyarrow.parquet as pq

        if self.table is not None:
            return self.table.schema
        if not self.files:
            raise FileNotFoundError("no Parquet file")
        return pq.ParquetFile(self.files[0]).schema_arrow

    def read(self, names: Sequence[str] | None = None) -> Any:
        """The columns ``names`` (``None``: all) as an Arrow table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = None if names is None else list(names)
        if self.table is not None:
            return self.table if wanted is None else self.table.select(wanted)
        # no pre-buffering: for a local file it only adds a copy of each column chunk
        # (measured at 1M x 10M: the reads take ~20 % less time, and less memory)
        parts = [pq.ParquetFile(path, pre_buffer=False).read(columns=wanted)
                 for path in self.files]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _ints(column: Any, *, source: bool = False) -> tuple[Any, Any]:
    """(int64 values, validity as numpy booleans or ``None``) of an Arrow integer,
    timestamp or float column; a null's slot holds any value. A float key (pandas makes
    one of an integer column with nulls) must hold whole numbers: in the source, or
    :class:`Unsuited`; in the entity rows a fraction matches nothing."""
    import numpy as np
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = "f" if pa.types.is_floating(array.type) else (
        "u" if pa.types.is_unsigned_integer(array.type) else "i")
    values = buffers.values(array, f"{kind}{buffers.fixed_width(array.type)}")
    valid = buffers.validity(array)  # null slots hold anything: every caller masks them
    if kind != "f":
        return values.astype(np.int64, copy=False), valid
    whole = (values == np.trunc(values)) & (np.abs(values) < 2.0**53)
    if not whole.all():
        if source and not whole[valid if valid is not None else slice(None)].all():
            raise Unsuited("a float join key of the source holds fractions")
        valid = whole if valid is None else valid & whole
    return np.where(whole, values, 0).astype(np.int64), valid


def _plain(column: Any) -> Any:
    """A key column as plain values: a categorical (dictionary) as its values, a string
    view as strings."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if getattr(pa.types, "is_string_view", lambda t: False)(column.type):
        column = column.cast(pa.string())
    return column


def _key_pair(entity_column: Any, source_column: Any, *, dense: bool = False
              ) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The (values, validity) of a join key in the entity rows and in the source, as
    int64: numbers as they are (:func:`_ints`), or with ``dense`` as their index among
    the source's distinct values; strings always so. An entity key the source lacks
    then matches nothing."""
    import pyarrow as pa

    entity_column, source_column = (_plain(c) for c in (entity_column, source_column))
    text = pa.types.is_string(source_column.type) or pa.types.is_large_string(
        source_column.type)
    if not text:
        entity, source = _ints(entity_column), _ints(source_column, source=True)
        if not dense:
            return entity, source
        # whole numbers as int64 Arrow arrays (never cast: 1.5 must not become 1)
        entity_column, source_column = (
            pa.Array.from_buffers(pa.int64(), len(v), [None, pa.py_buffer(v)])
            for v, _ in (entity, source))
    import pyarrow.compute as pc  # only here: importing it takes ~0.1 s

    codes = pc.dictionary_encode(source_column)
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.unify_dictionaries()
        distinct = (codes.chunk(0).dictionary if codes.num_chunks
                    else pa.array([], source_column.type))
        codes = pa.chunked_array([c.indices for c in codes.chunks], pa.int32())
    else:
        distinct, codes = codes.dictionary, codes.indices
    entity_codes = _ints(pc.index_in(entity_column.cast(distinct.type), value_set=distinct))
    source_codes = _ints(codes)
    if not text:  # the numbers' own nulls and fractions still match nothing
        entity_codes = (entity_codes[0], _all([entity_codes[1], entity[1]]))
        source_codes = (source_codes[0], _all([source_codes[1], source[1]]))
    return entity_codes, source_codes


def _all(masks: Sequence[Any]) -> Any:
    """The rows valid in every mask (``None``: all rows)."""
    out = None
    for mask in masks:
        if mask is not None:
            out = mask.copy() if out is None else out & mask
    return out


class _Packing:
    """How the keys and event time of one view pack into int64: per key its minimum and
    range, the time's minimum, divisor and range, all taken from the source."""

    def __init__(self, keys: Sequence[Any], times: Any) -> None:
        import numpy as np

        self.key_min = [int(k.min()) for k in keys]
        self.key_max = [int(k.max()) for k in keys]
        self.time_min, self.time_max = int(times.min()), int(times.max())
        radix = 1
        for lo, hi in zip(self.key_min, self.key_max, strict=True):
            radix *= hi - lo + 1
        self.divisor = 1
        span = self.time_max - self.time_min
        # a time in a finer unit than its values need (nanoseconds that are whole
        # microseconds, as pandas writes them) is divided down when that makes it fit
        while radix * (span // self.divisor + 1) >= _LIMIT and self.divisor < 10**9:
            step = self.divisor * 1000
            if np.any((times - self.time_min) % step):
                break
            self.divisor = step
        self.time_range = span // self.divisor + 1
        self.radix = radix
        if radix * self.time_range >= _LIMIT:
            raise DoesNotPack(
                f"key ranges {[hi - lo + 1 for lo, hi in zip(self.key_min, self.key_max, strict=True)]}"
                f" times a time range of {self.time_range} do not fit in 62 bits")

    def pack(self, keys: Sequence[Any], times: Any) -> Any:
        """The packed values (a new array); keys and times must be inside the ranges."""
        packed = keys[0] - self.key_min[0]
        for key, lo, hi in zip(keys[1:], self.key_min[1:], self.key_max[1:], strict=True):
            packed *= hi - lo + 1
            packed += key
            packed -= lo
        packed *= self.time_range
        offset = times - self.time_min
        if self.divisor > 1:
            offset //= self.divisor  # floor: exact for "source time <= entity time"
        packed += offset
        return packed

    def bound(self) -> int:
        """One more than the greatest packed value."""
        return self.radix * self.time_range


def match(entity_keys: Sequence[Any], entity_times: Any, entity_valid: Any,
          source_keys: Sequence[Any], source_times: Any, source_valid: Any,
          created: Callable[[], tuple[Any, Any]] | None, *, scale: int, ttl: int | None
          ) -> tuple[Any, Any]:
    """For each entity row, the index of its source row and whether it has one.

    Keys and times are int64 arrays; a ``*_valid`` mask (or ``None``: all) says which rows
    have no null in them. ``entity_times`` count ticks of the finer of the two time units,
    ``scale`` of which make one tick of the source's (``source_times * scale`` compares
    with them); ``ttl`` is in those ticks too, or ``None``. ``created`` (or ``None``)
    returns the created times and their validity, read only if a tie needs them. Raises
    :class:`DoesNotPack`."""
    import numpy as np

    n = len(entity_times)
    all_times, selected = source_times, None
    if source_valid is not None:  # rows with a null key or time never match
        selected = np.flatnonzero(source_valid)
        source_keys = [k[selected] for k in source_keys]
        source_times = source_times[selected]
    if not len(source_times) or not n:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
    packing = _Packing(source_keys, source_times)
    packed = packing.pack(source_keys, source_times)
    del source_keys, source_times
    bound = packing.bound()
    with ThreadPoolExecutor(max_workers=1) as pool:  # numpy sorts without the GIL
        source_sorted = pool.submit(_sort, packed, bound)
        # meanwhile the entity rows, in the source's unit (floor: exact for "at or
        # before"), clipped into the packed ranges; the rows outside them are marked
        found = np.ones(n, dtype=np.bool_) if entity_valid is None else entity_valid.copy()
        keys = []
        for key, lo, hi in zip(entity_keys, packing.key_min, packing.key_max, strict=True):
            found &= (key >= lo) & (key <= hi)
            keys.append(np.clip(key, lo, hi))
        times = entity_times // scale if scale > 1 else entity_times
        found &= times >= packing.time_min
        wanted = packing.pack(keys, np.clip(times, packing.time_min, packing.time_max))
        del keys, times
        # sorted, so the binary searches walk forward
        wanted, entity_order = _sort(wanted, bound)
        packed, order = source_sorted.result()

    at = np.searchsorted(packed, wanted, side="right")
    at -= 1  # the greatest packed value at or before the entity's
    hit = at >= 0
    np.maximum(at, 0, out=at)
    hit &= packed[at] // packing.time_range == wanted // packing.time_range  # same keys
    del wanted
    tied = np.flatnonzero(hit & (at > 0))
    tied = tied[packed[at[tied] - 1] == packed[at[tied]]]
    if len(tied):
        at[tied] = _latest_created(packed, order, at[tied], created, selected)
    del packed
    matched = order[at]
    del order, at
    if selected is not None:
        matched = selected[matched]
    rows = np.empty(n, dtype=np.int64)
    rows[entity_order] = matched
    found[entity_order] &= hit
    if ttl is not None:  # the row found is the latest: if it is too old, so are the others
        found &= all_times[rows] * scale >= entity_times - ttl
    return rows, found


#: bits of the int64 a value and its row index share in :func:`_sort` (the sign bit
#: stays clear)
_ROOM = 63


def _sort(packed: Any, bound: int) -> tuple[Any, Any]:
    """``(the values sorted, the order that sorts them)`` of ``packed`` (int64, each
    in ``[0, bound)``); among equal values, the order keeps the source's.

    ``numpy.argsort`` of 10M int64 takes ~1 s, while ``numpy.sort`` of the values alone
    takes ~0.16 s (its SIMD sort; argsort has none on AVX2). So each value and its row
    index are put in one int64, value high and index low, and sorted as plain numbers.
    When both do not fit in 63 bits the value loses its lowest bits there (a shift keeps
    the order: only values that differ in those bits can come out of order, all of them
    inside runs of equal shifted values); the exact values are then read in that order and
    the few runs out of order are sorted (:func:`_put_right`). Benchmark data at 1M x 10M:
    57 bits of keys and time plus 24 of row index, 18 bits dropped, ~90 runs of 10M rows
    out of order; 0.6 s in all instead of 1.3-1.7 s (argsort, then sort)."""
    import numpy as np

    n = len(packed)
    row_bits = max(1, (n - 1).bit_length())
    shift = max(0, (max(bound, 2) - 1).bit_length() + row_bits - _ROOM)
    both = packed >> shift if shift else packed.copy()
    both <<= row_bits
    step = 1 << 20  # the row indices a block at a time: no array of n of them
    index = np.arange(min(n, step), dtype=np.int64)
    for start in range(0, n, step):
        block = both[start:start + step]
        block |= index[:len(block)]
        index += step
    del index
    both.sort()
    if not shift:
        values = both >> row_bits
        both &= (1 << row_bits) - 1
        return values, both
    both &= (1 << row_bits) - 1
    order = both
    values = packed[order]
    _put_right(values, order, shift)
    return values, order


def _put_right(values: Any, order: Any, shift: int) -> None:
    """Sort ``values`` (and ``order`` with them) in place, stably, when they are sorted
    by ``values >> shift`` already: only the runs of equal ``values >> shift`` that are
    out of order are sorted. Runs are contiguous and ordered among themselves, so one
    stable sort of all of them, end to end, sorts each."""
    import numpy as np

    bad = np.flatnonzero(values[1:] < values[:-1])
    if not len(bad):
        return
    runs = np.unique(values[bad] >> shift)
    # the predicate ``value < run << shift`` is monotonic in an array sorted by
    # ``value >> shift``, so a binary search finds each run's bounds
    first = np.searchsorted(values, runs << shift, side="left")
    lengths = np.searchsorted(values, (runs + 1) << shift, side="left") - first
    ends = np.cumsum(lengths)
    at = np.arange(ends[-1], dtype=np.int64) + np.repeat(first - (ends - lengths), lengths)
    part = values[at]
    fix = np.argsort(part, kind="stable")
    values[at] = part[fix]
    order[at] = order[at][fix]


def _latest_created(packed: Any, order: Any, ends: Any,
                    created: Callable[[], tuple[Any, Any]] | None, selected: Any) -> Any:
    """For runs of equal packed values (ties) that end at sorted positions ``ends``, the
    sorted position of each run's winner: the latest created time, a null being the
    oldest; among equals (or with no created column) the last row of the source."""
    import numpy as np

    last = np.unique(ends)
    first = np.searchsorted(packed, packed[last], side="left")
    lengths = last - first + 1
    run_end = np.cumsum(lengths)
    run = np.repeat(np.arange(len(last)), lengths)
    members = np.arange(run_end[-1]) - np.repeat(run_end - lengths, lengths)
    members += np.repeat(first, lengths)
    rows = order[members]
    if selected is not None:
        rows = selected[rows]
    if created is None:
        stamp = np.zeros(len(rows), dtype=np.int64)
    else:
        values, valid = created()
        stamp = values[rows]
        if valid is not None:
            stamp = np.where(valid[rows], stamp, np.iinfo(np.int64).min)
    best = np.lexsort((rows, stamp, run))[run_end - 1]  # per run: latest, then last row
    return members[best][np.searchsorted(last, ends)]


def _gather(column: Any, rows: Any, found: Any, indices: Callable[[], Any]) -> Any:
    """``column`` (Arrow, the source's rows) at ``rows`` where ``found``, else null: one
    numpy gather for fixed-width types, Arrow's ``take`` of ``indices()`` for others."""
    import numpy as np
    import pyarrow as pa

    if not found.any():  # an empty source, or nothing matched
        return pa.nulls(len(rows), column.type)
    width = buffers.fixed_width(column.type)
    if not width:
        return column.take(indices()).combine_chunks()
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = buffers.values(array, np.dtype(f"u{width}"))[rows]
    valid = buffers.validity(array)
    valid = found if valid is None else found & valid[rows]
    missing = len(rows) - int(np.count_nonzero(valid))
    mask = pa.py_buffer(np.packbits(valid, bitorder="little")) if missing else None
    return pa.Array.from_buffers(column.type, len(rows), [mask, pa.py_buffer(values)],
                                 null_count=missing)


def point_in_time(entities: _Columns, timestamp_column: str,
                  requests: Sequence[ViewRequest]) -> Any:
    """The whole join (see the module docstring): the entity rows (:func:`entity_input`)
    as given, then each view's features in the requests' order. An Arrow table. Raises
    :class:`Unsuited` before any work is lost: every view is matched before a feature is
    read."""
    import numpy as np
    import pyarrow as pa

    given = entities.read()
    n = given.num_rows
    matches = [(req, *_match_view(given, timestamp_column, req)) for req in requests]
    columns = {name: given.column(name) for name in given.column_names}
    for req, data, rows, found in matches:

        def indices(rows: Any = rows, found: Any = found) -> Any:
            missing = n - int(np.count_nonzero(found))
            mask = pa.py_buffer(np.packbits(found, bitorder="little")) if missing else None
            return pa.Array.from_buffers(pa.int64(), n, [mask, pa.py_buffer(rows)],
                                         null_count=missing)

        def place(feature: str, data: _Columns = data, rows: Any = rows, found: Any = found,
                  indices: Callable[[], Any] = indices) -> Any:
            return _gather(data.read([feature]).column(0), rows, found, indices)

        # a column at a time per thread: two source columns in memory, not all of them;
        # pyarrow reads and numpy gathers without the GIL
        with ThreadPoolExecutor(max_workers=2) as pool:
            columns.update(zip(req.outputs, pool.map(place, req.features), strict=True))
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def _match_view(given: Any, timestamp_column: str, req: ViewRequest
                ) -> tuple[_Columns, Any, Any]:
    """(the view's source, the index of each entity row's source row, whether it has
    one): :func:`match` on the keys and times read from the source."""
    view = req.view
    data = _Columns(req.origin)
    head = data.read([*view.join_keys, view.timestamp_field])
    time_column = given.column(timestamp_column)
    entity_unit = _NANOS[time_column.type.unit]
    source_unit = _NANOS[head.column(view.timestamp_field).type.unit]
    tick = min(source_unit, entity_unit)
    entity_times, time_valid = _ints(time_column)
    source_times, source_time_valid = _ints(head.column(view.timestamp_field))
    # both sides are compared in the finer unit: the coarser side must fit it
    _fits(entity_times, time_valid, entity_unit // tick, "the entity rows' times")
    _fits(source_times, source_time_valid, source_unit // tick,
          f"the event times of feature view {view.name!r}")
    if entity_unit > tick:
        entity_times = entity_times * (entity_unit // tick)
    created = view.created_timestamp_field
    ttl = view.ttl_seconds

    def matched(dense: bool) -> tuple[Any, Any]:
        pairs = [_key_pair(given.column(k), head.column(k), dense=dense)
                 for k in view.join_keys]
        return match(
            [k for (k, _), _ in pairs], entity_times,
            _all([time_valid, *(v for (_, v), _ in pairs)]),
            [k for _, (k, _) in pairs], source_times,
            _all([source_time_valid, *(v for _, (_, v) in pairs)]),
            None if created is None else (lambda: _ints(data.read([created]).column(0))),
            scale=source_unit // tick,
            ttl=None if ttl is None else round(ttl * 1_000_000) * 1000 // tick)

    try:
        rows, found = matched(dense=False)
    except DoesNotPack:  # keys spread too wide (ids of 40 bits and more, say) are
        rows, found = matched(dense=True)  # packed by their index among distinct values
    return data, rows, found


def _fits(times: Any, valid: Any, factor: int, what: str) -> None:
    """:class:`Unsuited` when ``times * factor`` would overflow int64 (a time in seconds
    beyond the year 2262, compared with one in nanoseconds)."""
    import numpy as np

    if factor == 1 or not len(times):
        return
    present = times if valid is None else times[valid]
    limit = np.iinfo(np.int64).max // factor
    if len(present) and (int(present.max()) > limit or int(present.min()) < -limit):
        raise Unsuited(f"{what} do not fit in 64 bits in the other side's finer unit")

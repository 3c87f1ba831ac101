"""The prediction log: every request a deployment answers, as Parquet in the stack's datastore.

Layout (a fixed contract; the monitoring layer reads it)::

    predictions/<deployment>/date=YYYY-MM-DD/part-<time>-<uuid>.parquet
    outcomes/<deployment>/date=YYYY-MM-DD/part-<time>-<uuid>.parquet

A prediction part has one row per prediction row, with the columns ``request_id`` string,
``timestamp`` timestamp[us, UTC], ``deployment``, ``variant``, ``model`` (the resolved
``FLOW/RUN/STEP``) strings, ``latency_ms`` float64, ``status`` int32, ``key`` string (the
request's sticky-key value, null without one; absent from parts written before it
existed), then ``in.<name>``
per input field and ``out.<name>`` per output field of the recorded schema. A request that
failed (4xx/5xx) is one row with null inputs and outputs. An outcome part has
``request_id``, ``timestamp`` and ``outcome`` float64.

Parts are written as datastore records (one put per part, never overwritten), so every
datastore plugin stores them; a file datastore keeps them as plain Parquet files under its
folder, readable by any Parquet tool. A background thread writes them in batches: the
request path only appends to a list.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lamina.serving.schema import V2_TO_NUMPY, Field, MatrixColumns

if TYPE_CHECKING:
    import pyarrow as pa

    from lamina.stack import Stack

log = logging.getLogger(__name__)

PREDICTIONS = "predictions"
OUTCOMES = "outcomes"
#: The fixed leading columns of a prediction part, in order.
FIXED_COLUMNS = (
    "request_id", "timestamp", "deployment", "variant", "model", "latency_ms", "status", "key",
)


def _arrow_type(field: Field) -> pa.DataType:
    import pyarrow as pa

    base = pa.string() if field.datatype == "BYTES" else pa.from_numpy_dtype(
        V2_TO_NUMPY[field.datatype])
    size = 1
    for d in field.shape:
        size *= d
    return pa.list_(base, size) if field.shape else base


def prediction_schema(inputs: Sequence[Field] = (), outputs: Sequence[Field] = ()) -> pa.Schema:
    """The Arrow schema of a prediction part for these fields."""
    import pyarrow as pa

    cols = [
        pa.field("request_id", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("deployment", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("model", pa.string()),
        pa.field("latency_ms", pa.float64()),
        pa.field("status", pa.int32()),
        pa.field("key", pa.string()),
    ]
    cols += [pa.field(f"in.{f.name}", _arrow_type(f)) for f in inputs]
    cols += [pa.field(f"out.{f.name}", _arrow_type(f)) for f in outputs]
    return pa.schema(cols)


OUTCOME_COLUMNS = ("request_id", "timestamp", "outcome", "variant", "request_time", "key")


def outcome_schema() -> pa.Schema:
    """An outcome part: the outcome of a request, and its *credit* (the variant that
    answered it, when, and its sticky key) where the writer knew it; null where not."""
    import pyarrow as pa

    return pa.schema([
        pa.field("request_id", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("outcome", pa.float64()),
        pa.field("variant", pa.string()),
        pa.field("request_time", pa.timestamp("us", tz="UTC")),
        pa.field("key", pa.string()),
    ])


def _part_key(kind: str, deployment: str, ts_us: int) -> str:
    when = dt.datetime.fromtimestamp(ts_us / 1e6, tz=dt.UTC)
    return (f"{kind}/{deployment}/date={when:%Y-%m-%d}/"
            f"part-{when:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}.parquet")


_US_PER_DAY = 86_400_000_000


def _stacked_inputs(entries: Sequence[tuple], inputs: Sequence[Field]) -> list[Any] | None:
    """The input columns of a batch of entries that all came as ``[N, F]`` matrices of
    the logged fields, in order: one stack of the matrices, split once (not one tiny
    array per request and field). None when any entry came otherwise (or failed)."""
    import numpy as np

    first = entries[0][7] if entries else None
    if not isinstance(first, MatrixColumns) or list(first.index) != [f.name for f in inputs]:
        return None
    index = first.index
    matrices = []
    for e in entries:
        cols = e[7]
        if not isinstance(cols, MatrixColumns) or cols.matrix.shape[0] != e[6] \
                or (cols.index is not index and cols.index != index):
            return None
        matrices.append(cols.matrix)
    stacked = np.ascontiguousarray(np.concatenate(matrices).T)
    return [stacked[i] for i in range(len(inputs))]


def _column(field: Field, chunks: list[Any], rows: list[int]) -> pa.Array:
    """One feature column from per-request arrays (None: a failed request, null rows)."""
    import numpy as np
    import pyarrow as pa

    typ = _arrow_type(field)
    missing = any(c is None for c in chunks)
    if field.datatype == "BYTES":
        values: list[Any] = []
        for c, n in zip(chunks, rows, strict=True):
            if c is None:
                values.extend([None] * n)
            else:
                values.extend(v.decode() if isinstance(v, bytes) else (None if v is None else str(v))
                              for v in (c.tolist() if not field.shape else
                                        [str(list(x)) for x in c]))
        return pa.array(values, type=pa.string()) if not field.shape else pa.array(values)
    dtype = np.dtype(V2_TO_NUMPY[field.datatype])
    filled = [np.zeros((n, *field.shape), dtype) if c is None else c for c, n in zip(chunks, rows, strict=True)]
    flat = np.concatenate(filled) if filled else np.zeros((0, *field.shape), dtype)
    mask = None
    if missing:
        mask = np.concatenate([np.full(n, c is None) for c, n in zip(chunks, rows, strict=True)])
    if field.shape:
        values_arr = pa.array(flat.reshape(-1).astype(dtype, copy=False))
        return pa.FixedSizeListArray.from_arrays(values_arr, type=typ,
                                                  mask=pa.array(mask) if mask is not None else None)
    return pa.array(flat.astype(dtype, copy=False), type=typ, mask=mask)


def build_prediction_table(
    deployment: str, entries: Sequence[tuple], inputs: Sequence[Field], outputs: Sequence[Field]
) -> pa.Table:
    """A prediction part from buffered entries ``(request_id, ts_us, variant, model,
    latency_ms, status, rows, inputs_or_None, outputs_or_None[, key])``."""
    import numpy as np
    import pyarrow as pa

    # a successful request logs one row per prediction row; a failed one, one row
    counts = [e[6] if e[7] is not None else 1 for e in entries]
    rep = np.asarray(counts, dtype=np.int64)

    def repeat(values: list[Any]) -> list[Any]:
        if all(c == 1 for c in counts):
            return values
        out: list[Any] = []
        for v, c in zip(values, counts, strict=True):
            out.extend([v] * c)
        return out

    ts = np.repeat(np.asarray([e[1] for e in entries], dtype=np.int64), rep)
    arrays = [
        pa.array(repeat([e[0] for e in entries]), pa.string()),
        pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array([deployment] * int(rep.sum()), pa.string()),
        pa.array(repeat([e[2] for e in entries]), pa.string()),
        pa.array(repeat([e[3] for e in entries]), pa.string()),
        pa.array(np.repeat(np.asarray([e[4] for e in entries], dtype=np.float64), rep)),
        pa.array(np.repeat(np.asarray([e[5] for e in entries], dtype=np.int32), rep)),
        pa.array(repeat([e[9] if len(e) > 9 else None for e in entries]), pa.string()),
    ]
    stacked = _stacked_inputs(entries, inputs)
    if stacked is not None:
        arrays += [pa.array(col.astype(V2_TO_NUMPY[f.datatype], copy=False), type=_arrow_type(f))
                   for f, col in zip(inputs, stacked, strict=True)]
    else:
        for f in inputs:
            arrays.append(_column(f, [None if e[7] is None else e[7].get(f.name)
                                      for e in entries], counts))
    for f in outputs:
        arrays.append(_column(f, [None if e[8] is None else e[8].get(f.name) for e in entries], counts))
    return pa.Table.from_arrays(arrays, schema=prediction_schema(inputs, outputs))


_TIME_COLUMNS = ("timestamp", "request_time")
#: Columns whose values rarely repeat: a dictionary would only be built and dropped.
_UNIQUE_COLUMNS = ("request_id", *_TIME_COLUMNS, "latency_ms", "outcome")


def _write_part(datastore: Any, kind: str, deployment: str, table: pa.Table, ts_us: int) -> str:
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    # read far more often than written (each report reads the whole log): LZ4 decodes at
    # about twice Snappy's speed, and the times as deltas at five times (and both are
    # smaller); dictionaries only where values repeat
    stamps = [f.name for f in table.schema if f.name in _TIME_COLUMNS]
    pq.write_table(table, buf, compression="lz4",
                   use_dictionary=[f.name for f in table.schema if f.name not in _UNIQUE_COLUMNS],
                   column_encoding=dict.fromkeys(stamps, "DELTA_BINARY_PACKED"))
    key = _part_key(kind, deployment, ts_us)
    datastore.put_record(key, buf.getvalue(), exclusive=True)
    return key


def _union_fields(schemas: Iterable[Any], attr: str) -> list[Field]:
    seen: dict[str, Field] = {}
    for s in schemas:
        for f in getattr(s, attr):
            seen.setdefault(f.name, f)
    return list(seen.values())


class PredictionLogWriter:
    """Buffers predictions and outcomes in memory and writes them as Parquet parts from a
    background thread every ``flush_seconds`` or ``flush_rows`` rows, and on :meth:`close`.

    :param schemas: the model schemas of the deployment's variants (their fields, united,
        are the ``in.``/``out.`` columns).
    :param hook: the stack's hook relay, for ``lamina_prediction_logged``.
    :param mirror: the mirror variant's name: its answers are never credited.
    :param remember: how many recent successful answers the writer remembers, so that an
        outcome posted for one of them is written with its credit (variant, time, key)
        and the A/B report needs no join for it (about 270 bytes per answer). An outcome
        of an older request is written without credit and joined when reported.
    """

    def __init__(
        self,
        datastore: Any,
        deployment: str,
        schemas: Sequence[Any],
        *,
        flush_seconds: float = 2.0,
        flush_rows: int = 20_000,
        hook: Any = None,
        mirror: str | None = None,
        remember: int = 100_000,
    ) -> None:
        self.datastore = datastore
        self.deployment = deployment
        self.inputs = _union_fields(schemas, "inputs")
        self.outputs = _union_fields(schemas, "outputs")
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.hook = hook
        self._lock = threading.Lock()
        self._entries: list[tuple] = []
        self._outcomes: list[tuple[str, int, float]] = []
        self._credits: list[Credit | None] = []
        self.mirror = mirror
        self.remember = remember
        self._answers: dict[str, Credit] = {}  # insertion order: the oldest first
        self._pending_rows = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.parts_written = 0
        self.rows_written = 0
        self.rows_dropped = 0
        self._thread = threading.Thread(target=self._loop, name=f"prediction-log-{deployment}",
                                        daemon=True)
        self._thread.start()

    def record(
        self, request_id: str, ts_us: int, variant: str, model: str, latency_ms: float,
        status: int, rows: int, inputs: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None,
        *, key: str | None = None,
    ) -> None:
        """Queue one request (called on the request path: an append, nothing more).
        ``key`` is the request's sticky-key value, which experiments count units by."""
        with self._lock:
            self._entries.append((request_id, ts_us, variant, model, latency_ms, status, rows,
                                  inputs, outputs, key))
            if status == 200 and variant != self.mirror and self.remember > 0 \
                    and request_id not in self._answers:  # the first answer is the credited one
                self._answers[request_id] = (variant, ts_us, key)
                if len(self._answers) > self.remember:
                    del self._answers[next(iter(self._answers))]
            self._pending_rows += rows or 1
            if self._pending_rows >= self.flush_rows:
                self._wake.set()

    def record_outcomes(self, outcomes: Iterable[tuple[str, int, float]]) -> None:
        """Queue outcomes ``(request_id, ts_us, outcome)``, each credited to its request's
        answer when the writer still remembers it."""
        with self._lock:
            for outcome in outcomes:
                self._outcomes.append(outcome)
                self._credits.append(self._answers.get(outcome[0]))

    def _take(self) -> tuple[list[tuple], list[tuple[str, int, float]], list[Credit | None]]:
        with self._lock:
            entries, self._entries = self._entries, []
            outcomes, self._outcomes = self._outcomes, []
            credits, self._credits = self._credits, []
            self._pending_rows = 0
            self._wake.clear()
        return entries, outcomes, credits

    def flush(self) -> int:
        """Write what is buffered now; return the number of prediction rows written."""
        entries, outcomes, credits = self._take()
        written = 0
        if entries:
            by_day: dict[int, list[tuple]] = {}
            for e in entries:
                by_day.setdefault(e[1] // _US_PER_DAY, []).append(e)
            for day_entries in by_day.values():
                try:
                    table = build_prediction_table(self.deployment, day_entries, self.inputs,
                                                   self.outputs)
                    _write_part(self.datastore, PREDICTIONS, self.deployment, table,
                                day_entries[0][1])
                except Exception:
                    log.exception("prediction log: could not write %d requests of %s",
                                  len(day_entries), self.deployment)
                    self.rows_dropped += len(day_entries)
                    continue
                self.parts_written += 1
                self.rows_written += table.num_rows
                written += table.num_rows
            if self.hook is not None:
                try:
                    self.hook.lamina_prediction_logged(records=[
                        {"request_id": e[0], "variant": e[2], "model": e[3],
                         "latency_ms": e[4], "status": e[5]} for e in entries
                    ])
                except Exception:
                    log.exception("a lamina_prediction_logged hook failed")
        # one part per day, as for predictions: a reader skips parts by their date
        days: dict[int, list[int]] = {}
        for i, outcome in enumerate(outcomes):
            days.setdefault(outcome[1] // _US_PER_DAY, []).append(i)
        for rows in days.values():
            try:
                write_outcomes(self.datastore, self.deployment, [outcomes[i] for i in rows],
                               [credits[i] for i in rows])
            except Exception:
                log.exception("prediction log: could not write %d outcomes", len(rows))
        return written

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            if self._stop.is_set():
                break
            self.flush()

    def close(self) -> None:
        """Stop the thread and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


#: An answered request's credit: the variant that answered it, when (µs) and its sticky key.
Credit = tuple[str, int, "str | None"]


def write_outcomes(datastore: Any, deployment: str, outcomes: Sequence[tuple[str, int, float]],
                   credits: Sequence[Credit | None] | None = None) -> str:
    """Write one outcome part of ``(request_id, ts_us, outcome)`` rows, each with its
    request's credit where known (``credits``, parallel to ``outcomes``); return its key."""
    import pyarrow as pa

    stamp = pa.timestamp("us", tz="UTC")
    credit = list(credits) if credits is not None else [None] * len(outcomes)
    table = pa.Table.from_arrays(
        [
            pa.array([o[0] for o in outcomes], pa.string()),
            pa.array([o[1] for o in outcomes], pa.int64()).cast(stamp),
            pa.array([float(o[2]) for o in outcomes], pa.float64()),
            pa.array([c[0] if c else None for c in credit], pa.string()),
            pa.array([c[1] if c else None for c in credit], pa.int64()).cast(stamp),
            pa.array([c[2] if c else None for c in credit], pa.string()),
        ],
        schema=outcome_schema(),
    )
    return _write_part(datastore, OUTCOMES, deployment, table, outcomes[0][1])


def _now_us() -> int:
    return time.time_ns() // 1000


def _stack(stack: Stack | str | None) -> Stack:
    from lamina.stack import resolve_stack

    return resolve_stack(stack)


#: The largest outcome magnitude taken: beyond it the A/B report's sums would overflow.
MAX_OUTCOME = 1e15


def outcome_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an outcome (None when it can): a number (not a boolean),
    finite, at most :data:`MAX_OUTCOME` in magnitude."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"is not a number: {value!r}"
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        return f"is not a finite number: {value!r}"
    if abs(number) > MAX_OUTCOME:
        return f"is {value!r}, beyond the largest outcome taken ({MAX_OUTCOME:g})"
    return None


def log_outcomes(
    stack: Stack | str | None,
    deployment: str,
    outcomes: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    credit: bool = True,
) -> str:
    """Record outcomes (labels, conversions, revenue) of earlier predictions by request id,
    so ``lamina ab report`` and monitoring can join them to the prediction log.

    :param outcomes: ``{request_id: outcome}`` or ``(request_id, outcome)`` pairs.
    :param credit: look each request up in the prediction log now and write its credit
        (the variant that answered, when, its sticky key) with the outcome, so that every
        later report reads it without a join. This reads the log's request ids once per
        call (1.1 s for a batch of 100,000 outcomes over 10 million logged requests, 2.5 s
        for a million): post outcomes in batches, or pass False to leave the join to the
        report.
    :return: the datastore key of the part written.
    """
    from lamina.serving.errors import ServingError

    pairs = list(outcomes.items()) if isinstance(outcomes, Mapping) else list(outcomes)
    if not pairs:
        raise ServingError("log_outcomes: no outcomes given",
                           hint="pass {request_id: outcome, ...}")
    now = _now_us()
    rows = []
    for rid, value in pairs:
        problem = outcome_problem(value)
        if problem:
            raise ServingError(f"outcome of request {rid!r} {problem}",
                               hint="outcomes are finite numbers (1/0 for conversions)")
        rows.append((str(rid), now, float(value)))
    resolved = _stack(stack)  # once: by name it means reading the config
    credits = None
    if credit:
        from lamina.serving.ab_read import credits_of

        credits = credits_of(resolved, deployment, [r[0] for r in rows])
    return write_outcomes(resolved.datastore, deployment, rows, credits)


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _read(kind: str, stack: Stack | str | None, deployment: str, start: Any, end: Any,
          empty: pa.Schema, columns: Sequence[str] | None = None,
          dictionary: Sequence[str] = ()) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    store = _stack(stack).datastore
    lo, hi = _as_utc(start), _as_utc(end)
    keys = []
    for key in store.list_records(f"{kind}/{deployment}"):
        if not key.endswith(".parquet"):
            continue
        day = next((p[5:] for p in key.split("/") if p.startswith("date=")), None)
        if day is not None:
            if lo is not None and day < lo.strftime("%Y-%m-%d"):
                continue
            if hi is not None and day > hi.strftime("%Y-%m-%d"):
                continue
        keys.append(key)

    def read_part(key: str) -> pa.Table | None:
        data = store.get_record(key)
        if data is None:
            return None
        # parts are small: no Arrow thread pools (a pool thread still alive at process
        # exit can abort the interpreter, apache/arrow#34314); ParquetFile, not
        # read_table, which imports pyarrow.dataset (and pandas) on first use
        part = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False)  # no copy of the bytes
        names = part.schema_arrow.names
        if any(c in names for c in dictionary):
            part = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False,
                                  read_dictionary=[c for c in dictionary if c in names])
        wanted = None if columns is None else [c for c in columns if c in names]
        return part.read(columns=wanted, use_threads=False)

    # parts are read side by side on our own threads (the reads release the GIL), in order
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1, len(keys)))) as pool:
        tables = [t for t in pool.map(read_part, keys) if t is not None]
    if not tables:
        table = empty.empty_table()
        return table if columns is None else table.select(
            [c for c in columns if c in table.column_names])
    table = pa.concat_tables(tables, promote_options="default")
    if lo is not None:
        table = table.filter(pc.greater_equal(table["timestamp"], pa.scalar(lo, table["timestamp"].type)))
    if hi is not None:
        table = table.filter(pc.less(table["timestamp"], pa.scalar(hi, table["timestamp"].type)))
    return table


def read_prediction_log(
    stack: Stack | str | None, deployment: str, start: Any = None, end: Any = None,
    *, columns: Sequence[str] | None = None, dictionary: Sequence[str] = (),
) -> pa.Table:
    """The logged predictions of ``deployment`` with ``start <= timestamp < end`` (datetimes
    or ISO strings, UTC when naive), in write order of the parts. Parts of variants with
    other fields are united (missing columns are null). ``columns`` reads only those
    (``timestamp`` is read too when a window is given); ``dictionary`` columns come as
    Arrow dictionary arrays (cheap for a column of few values, such as ``variant``)."""
    if columns is not None and (start is not None or end is not None):
        columns = [*columns, "timestamp"] if "timestamp" not in columns else columns
    return _read(PREDICTIONS, stack, deployment, start, end, prediction_schema(), columns,
                 dictionary)


def read_outcomes(
    stack: Stack | str | None, deployment: str, start: Any = None, end: Any = None,
    *, columns: Sequence[str] | None = None, dictionary: Sequence[str] = (),
) -> pa.Table:
    """The outcomes logged for ``deployment``: ``request_id``, ``timestamp``, ``outcome``,
    and each outcome's credit (``variant``, ``request_time``, ``key``; null where the
    writer did not know it, and in parts written before credits were). ``columns`` and
    ``dictionary`` as for :func:`read_prediction_log`."""
    import pyarrow as pa

    if columns is not None and (start is not None or end is not None):
        columns = [*columns, "timestamp"] if "timestamp" not in columns else columns
    table = _read(OUTCOMES, stack, deployment, start, end, outcome_schema(), columns, dictionary)
    for field in outcome_schema():
        if columns is not None and field.name not in columns:
            continue
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table

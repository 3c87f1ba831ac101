"""Reading an A/B test from a deployment's logs: each metric's units (one value per unit,
with its variant, day and sticky key), and the requests the sample ratio counts.

Each outcome counts for the variant that answered its request first (never a mirror):
from the credit written with the outcome where it has one (no join), else by finding its
request in the prediction log. The latest outcome of a request wins. Distinct sticky keys
and repeated outcomes are found over 64-bit hashes of the strings
(:mod:`lamina.serving.string_hash`). The outcomes are read, and checked for repeats, on a
thread of their own while the log is read; the sample ratio's units are counted on
another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving.errors import ServingError
from lamina.serving.experiment import Covariate, Experiment

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from lamina.stack import Stack

DAY_US = 86_400 * 1_000_000


@attrs.frozen
class Requests:
    """The answered requests, one entry per logged row (a request may log N rows)."""

    ids: pa.ChunkedArray  # request id per row, to join outcomes logged without credit
    codes: np.ndarray  # variant index per row
    t0: int  # the first request's time (µs): day 0
    days: np.ndarray  # day index per row
    keys: pa.ChunkedArray  # sticky-key value per row (null without one)
    key_hashes: np.ndarray  # their stable hashes (lamina.serving.string_hash)
    keyed: np.ndarray  # True where the row has a sticky key
    first: np.ndarray  # True on the first row of each request
    names: list[str]
    units: Future[tuple[str, np.ndarray]]  # the sample ratio's unit and units per variant


@attrs.frozen
class Units:
    """One metric's values, one per unit, with each unit's variant, day and key."""

    codes: np.ndarray  # variant index per value
    days: np.ndarray  # day index per value (0 = the first day of the log)
    values: np.ndarray
    keys: Callable[[], Any]  # the sticky-key value per unit (Arrow, null without a key)
    requests: np.ndarray  # distinct requests per variant


def _requests(preds: pa.Table) -> Requests:
    """Answered requests from the log (its successful rows, mirrors already dropped)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.string_hash import hash_strings

    ids = preds["request_id"]
    names = _variant_names(preds["variant"])
    codes = _codes(preds["variant"], names)
    ts = preds["timestamp"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    t0 = int(ts.min()) if ts.size else 0
    keys = preds["key"]
    # the rows of one request are logged together: the first of a run of equal ids
    # (compared chunk by chunk and across each chunk's edge, never copied into one)
    first = np.ones(len(ids), dtype=bool)
    at = 0
    previous = None
    for chunk in ids.chunks:
        n = len(chunk)
        if n:
            if previous is not None:
                first[at] = chunk[0].as_py() != previous
            if n > 1:
                first[at + 1: at + n] = _flat(pc.not_equal(chunk[1:], chunk[:-1]))
            previous = chunk[n - 1].as_py()
        at += n
    key_hashes, keyed = hash_strings(keys), _flat(pc.is_valid(keys))
    # counted on a thread of its own while the outcomes are read (a sort of every key)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ab-units")
    units = pool.submit(_units_per_variant, codes, key_hashes, keyed, first, len(names))
    pool.shutdown(wait=False)  # the thread ends with its one job
    return Requests(ids, codes, t0, _days(ts - t0), keys, key_hashes, keyed, first, names, units)


def _units_per_variant(codes: np.ndarray, key_hashes: np.ndarray, keyed: np.ndarray,
                       first: np.ndarray, variants: int) -> tuple[str, np.ndarray]:
    """What the sample-ratio check counts per variant: distinct sticky keys when at least
    half the requests carry one, else requests."""
    import numpy as np

    if keyed.any() and keyed.sum() >= first.sum() / 2:
        # distinct keys per variant, counted over their 64-bit hashes (a collision would
        # need about 4 billion distinct keys to become likely)
        return "sticky keys", np.array([_distinct(key_hashes[keyed & (codes == i)])
                                        for i in range(variants)], dtype=np.int64)
    return "requests", np.bincount(codes[first], minlength=variants)


def _days(elapsed_us: np.ndarray) -> np.ndarray:
    """Whole days in non-negative microseconds. A float division, exact here (a quotient
    below 2**20 days is never rounded up to the next whole day), is several times faster
    than numpy's integer floor division."""
    import numpy as np

    return (elapsed_us / DAY_US).astype(np.int32)  # small: a day index, per row


def _flat(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An array as one numpy array, chunk by chunk (a boolean ChunkedArray's own
    ``to_numpy`` takes ten times as long)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return values.to_numpy(zero_copy_only=False)
    chunks = [c.to_numpy(zero_copy_only=False) for c in values.chunks]
    return np.concatenate(chunks) if chunks else np.zeros(0, values.type.to_pandas_dtype())


def _variant_names(variants: pa.ChunkedArray) -> list[str]:
    """The variants that occur, sorted (a dictionary chunk: the entries its rows use)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    names: set[str] = set()
    for chunk in variants.chunks:
        if pa.types.is_dictionary(chunk.type):
            used = np.bincount(chunk.indices.drop_null().to_numpy(zero_copy_only=False),
                               minlength=len(chunk.dictionary)) > 0
            names.update(v for v, u in zip(chunk.dictionary.to_pylist(), used, strict=True) if u)
        else:
            names.update(pc.unique(chunk).drop_null().to_pylist())
    return sorted(names)


def _codes(variants: pa.ChunkedArray, names: list[str]) -> np.ndarray:
    """Each row's index in ``names`` (-1 for a variant not among them, or null); a
    dictionary chunk is mapped through its few entries, not row by row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(names, pa.string())
    out = []
    for chunk in variants.chunks:
        if pa.types.is_dictionary(chunk.type):
            entries = pc.fill_null(pc.index_in(chunk.dictionary, value_set=value_set), -1)
            table = np.append(entries.to_numpy(zero_copy_only=False).astype(np.int32), -1)
            index = pc.fill_null(chunk.indices, len(chunk.dictionary))
            out.append(table[index.to_numpy(zero_copy_only=False)])
        else:
            found = pc.fill_null(pc.index_in(chunk, value_set=value_set), -1)
            out.append(found.to_numpy(zero_copy_only=False).astype(np.int32))
    return np.concatenate(out) if out else np.zeros(0, np.int32)


def _latest_per_request(ids: pa.ChunkedArray, ts: np.ndarray | pa.ChunkedArray,
                        valid: np.ndarray | None = None) -> np.ndarray:
    """True on the outcome that counts for each request: its latest (an outcome posted
    again replaces the earlier one; one not ``valid`` never does). Equal request ids are
    found by their 64-bit hashes, sorted; only the ids whose hashes repeat are compared
    as strings, and only their times are read."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.string_hash import hash_strings

    keep = np.ones(len(ids), dtype=bool)
    if len(ids) < 2:
        return keep
    hashes = hash_strings(ids)
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not repeated.size:
        return keep
    candidates = np.flatnonzero(np.isin(hashes, np.unique(repeated)))
    codes = pc.dictionary_encode(ids.take(candidates).combine_chunks()).indices.to_numpy(
        zero_copy_only=False)
    when = np.asarray(ts.take(candidates) if isinstance(ts, pa.ChunkedArray) else ts[candidates],
                      dtype=np.int64)
    if valid is not None:  # an invalid outcome is older than any other
        when = np.where(valid[candidates], when, np.iinfo(np.int64).min)
    order = np.lexsort((when, codes))  # by request, then time: keep each last
    last = np.append(codes[order][1:] != codes[order][:-1], True)
    keep[candidates] = False
    keep[candidates[order][last]] = True
    return keep


def _read_outcomes(stack: Stack | str | None, deployment: str, start: Any,
                   covariate: bool) -> tuple[pa.Table, np.ndarray]:
    """The outcomes, and True on each that counts: finite, and its request's latest.
    Needs nothing of the prediction log, so it runs beside the log's reading."""
    import numpy as np
    import pyarrow as pa

    from lamina.serving.prediction_log import read_outcomes

    wanted = ["request_id", "timestamp", "outcome", "variant", "request_time"]
    outcomes = read_outcomes(stack, deployment, start, None,
                             columns=[*wanted, "key"] if covariate else wanted,
                             dictionary=["variant"])
    values = _flat(outcomes["outcome"]).astype(float, copy=False)
    keep = np.isfinite(values)  # logs from before outcomes were checked may hold NaN
    keep &= _latest_per_request(outcomes["request_id"], outcomes["timestamp"].cast(pa.int64()),
                                keep)
    return outcomes, keep


def _outcome_units(outcomes: pa.Table, keep: np.ndarray, req: Requests,
                   per_variant: np.ndarray, start: Any, end: Any) -> Units:
    """Each request's outcome with its variant, day and key: from the outcome's own credit
    (written by the server that answered it) or, for an outcome without one, by finding
    its request in the prediction log (one hash join over the request ids)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.prediction_log import _as_utc

    values = _flat(outcomes["outcome"]).astype(float, copy=False)
    # credited: the variant, time and key the server recorded with the outcome
    codes = _codes(outcomes["variant"], req.names)
    credited = _flat(pc.is_valid(outcomes["variant"]))
    when = pc.fill_null(outcomes["request_time"].cast(pa.int64()), 0).to_numpy(
        zero_copy_only=False)
    counted = keep & credited & (codes >= 0)
    lo, hi = _as_utc(start), _as_utc(end)
    if lo is not None:
        counted &= when >= int(lo.timestamp() * 1_000_000)
    if hi is not None:
        counted &= when < int(hi.timestamp() * 1_000_000)
    days = _days(np.maximum(when - req.t0, 0))
    loose = np.flatnonzero(keep & ~credited)
    if not loose.size and counted.all():  # every outcome credited: no selection to make
        return Units(codes, days, values, lambda: outcomes["key"], per_variant)
    # without credit: one hash over the request ids; index_in gives each outcome its
    # request's first row, so a request answered twice is credited once, to its first answer
    rows = np.zeros(0, np.int64)
    if loose.size:
        found = pc.index_in(outcomes["request_id"].take(loose),
                            value_set=req.ids.combine_chunks())
        hit = pc.is_valid(found).to_numpy(zero_copy_only=False)
        rows = pc.fill_null(found, 0).to_numpy(zero_copy_only=False).astype(np.int64)[hit]
        loose = loose[hit]
        codes[loose], days[loose] = req.codes[rows], req.days[rows]
        counted[loose] = True
    sel = np.flatnonzero(counted)  # in the order outcomes were logged, whatever their credit
    joined = np.zeros(len(counted), np.int64)
    joined[loose] = rows + 1

    def keys() -> pa.Array:
        own = outcomes["key"].take(sel)
        by_row = joined[sel]
        return pc.if_else(pa.array(by_row > 0), req.keys.take(np.maximum(by_row - 1, 0)), own)

    return Units(codes[sel], days[sel], values[sel], keys, per_variant)


def _answered(preds: pa.Table, design: dict[str, Any] | None) -> pa.Table:
    """The answered requests' rows: successful, and not the mirror's (its answers are only
    logged, never sent)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ok = pc.equal(preds["status"], 200)
    mirrors = [design["mirror"]] if design and design.get("mirror") else []
    if mirrors:
        answered = _flat(pc.fill_null(ok, False)) & (_codes(preds["variant"], mirrors) < 0)
        if not answered.all():
            preds = preds.filter(answered)
    elif not pc.all(ok, skip_nulls=False).as_py():  # a null status is no answer
        preds = preds.filter(ok)
    if "key" not in preds.column_names:  # logged before keys were
        preds = preds.append_column("key", pa.nulls(preds.num_rows, pa.string()))
    return preds


def credits_of(stack: Stack | str | None, deployment: str,
               request_ids: list[str]) -> list[tuple[str, int, str | None] | None]:
    """Each request's credit as the prediction log has it now: the variant of its first
    answer, the answer's time (µs) and the sticky key; None for a request not logged (or
    failed). What :func:`~lamina.serving.log_outcomes` writes beside each outcome."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.experiment import latest_design
    from lamina.serving.prediction_log import _stack, read_prediction_log

    stack = _stack(stack)  # once: by name it means reading the config
    preds = read_prediction_log(stack, deployment,
                                columns=["request_id", "timestamp", "variant", "status", "key"])
    if preds.num_rows == 0 or not request_ids:
        return [None] * len(request_ids)
    preds = _answered(preds, latest_design(stack.datastore, deployment))
    if preds.num_rows == 0:  # every request failed
        return [None] * len(request_ids)
    # the hash table over the few ids asked for, not over the whole log: keep the log's
    # rows of those ids (in log order), then index_in gives each id its first answer
    wanted = pa.array(request_ids, pa.string())
    preds = preds.filter(pc.is_in(preds["request_id"], value_set=wanted))
    if preds.num_rows == 0:
        return [None] * len(request_ids)
    rows = pc.index_in(wanted, value_set=preds["request_id"].combine_chunks())
    found = preds.take(pc.fill_null(rows, 0))
    hits = rows.is_valid().to_pylist()
    variants = found["variant"].to_pylist()
    times = found["timestamp"].cast(pa.int64()).to_pylist()
    keys = found["key"].to_pylist()
    return [(v, t, k) if hit else None
            for hit, v, t, k in zip(hits, variants, times, keys, strict=True)]


def read_units(stack: Stack | str | None, deployment: str, experiment: Experiment, start: Any,
          end: Any) -> tuple[dict[str, Units], Requests, dict[str, Any] | None]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.experiment import latest_design
    from lamina.serving.prediction_log import _stack, read_prediction_log

    store = _stack(stack).datastore
    outcomes = None
    if any(m.name == "outcome" for m in experiment.metrics):
        # read (and sorted for repeats) on a thread of its own while the log is read
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ab-outcomes")
        outcomes = pool.submit(_read_outcomes, stack, deployment, start,
                               experiment.covariate is not None)
        pool.shutdown(wait=False)
    design = latest_design(store, deployment)
    columns = ["request_id", "timestamp", "variant", "status", "key"]
    columns += [m.name for m in experiment.metrics if m.name != "outcome"]
    preds = read_prediction_log(stack, deployment, start, end, columns=columns,
                                dictionary=["variant"])
    if preds.num_rows == 0:
        raise ServingError(f"deployment {deployment!r} has no logged predictions"
                           + (" in that time window" if start or end else ""),
                           hint="serve it and send requests first (lamina serve ...)")
    preds = _answered(preds, design)
    req = _requests(preds)
    if not req.names:
        raise ServingError(f"deployment {deployment!r} answered no request successfully",
                           hint="look at its log: the prediction log's status column")
    per_variant = np.bincount(req.codes[req.first], minlength=len(req.names))
    out: dict[str, Units] = {}
    for spec in experiment.metrics:
        if spec.name in out:
            continue
        if spec.name == "outcome":
            assert outcomes is not None
            out[spec.name] = _outcome_units(*outcomes.result(), req, per_variant, start, end)
            continue
        if spec.name not in preds.column_names or spec.name in ("request_id", "variant", "key"):
            full = read_prediction_log(stack, deployment, start, end).schema
            numeric = [f.name for f in full
                       if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
            raise ServingError(f"metric {spec.name!r} is neither 'outcome' nor a column of the "
                               f"prediction log of {deployment!r}",
                               hint=f"numeric columns: {', '.join(numeric)}")
        column = preds[spec.name]
        valid = _flat(pc.is_valid(column))
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        valid &= np.isfinite(values)  # a null or a non-finite value is no measurement
        if valid.all():  # the usual case: no copy of the columns
            out[spec.name] = Units(req.codes, req.days, values, lambda: req.keys, per_variant)
            continue
        rows = np.flatnonzero(valid)
        out[spec.name] = Units(req.codes[rows], req.days[rows], values[rows],
                               functools.partial(req.keys.take, rows), per_variant)
    return out, req, design


def covariate_values(covariate: Covariate, units: Units) -> np.ndarray:
    """The covariate of each unit, nan where its key has none."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    source = covariate.source
    if isinstance(source, pa.Table):
        table = source
    elif hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas frame
        table = pa.Table.from_pandas(source, preserve_index=False)
    else:
        path = str(source)
        try:
            if path.endswith(".csv"):
                import pyarrow.csv as pv

                table = pv.read_csv(path)
            else:
                import pyarrow.parquet as pq

                table = pq.ParquetFile(path).read()
        except (OSError, pa.ArrowInvalid) as err:
            raise ServingError(f"covariate file {path}: {err}",
                               hint="a Parquet or CSV file with the key and value columns") from None
    for col in (covariate.key, covariate.column):
        if col not in table.column_names:
            raise ServingError(f"covariate: no column {col!r}",
                               hint=f"columns are: {', '.join(table.column_names)}")
    lookup_keys = pc.cast(table[covariate.key], pa.string())
    xs = table[covariate.column].cast(pa.float64()).to_numpy(zero_copy_only=False)
    # the covariate of each unit through its key (nan without a key or a covariate)
    idx = pc.index_in(units.keys(), value_set=lookup_keys.combine_chunks())
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    out = np.full(len(found), np.nan)
    out[found] = xs[pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)[found]]
    return out


def _distinct(values: np.ndarray) -> int:
    """How many distinct values (Arrow's hash table: numpy's ``unique`` sorts, five
    times slower here)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return len(pc.unique(pa.array(values)))

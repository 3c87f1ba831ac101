"""Read a deployment's A/B test from its logs: ``lamina ab report``.

Each request's variant comes from the prediction log; its outcome from the outcomes log
(joined by request id; the latest outcome of a request wins; a mirror never takes the
credit). The report, in the order a careful reader needs it:

1. **Sample ratio**: units per variant (distinct sticky keys when the deployment has a
   sticky key, else requests) against the split the server recorded at start (or the
   experiment's ``weights``), by a chi-square test. A mismatch means the split is broken
   and no other number can be trusted: the report says *stop* and the CLI fails.
2. **Each metric** (primary, secondaries, guardrails): per variant, n, mean and a 95%
   interval; against the control, the difference with an always-valid confidence
   sequence and p-value (mixture SPRT, :mod:`lamina.statistics.sequential`), which may be
   read every day; the fixed-horizon test (two-proportion z or Welch t) stays available
   with ``method = "fixed"`` and is labelled as valid only when read once. With a
   covariate, metrics are CUPED-adjusted first. Secondaries get Benjamini-Hochberg
   adjusted p-values.
3. **The decision**: ship (a variant beats the control on the primary and no guardrail
   degrades), stop (a guardrail degraded beyond its threshold, the split is broken, or
   every variant is worse) or keep running, with the reason.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving.errors import ServingError
from lamina.serving.experiment import Covariate, Experiment, MetricSpec

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from lamina.stack import Stack

DAY_US = 86_400 * 1_000_000
SHIP, KEEP_RUNNING, STOP = "ship", "keep running", "stop"


@attrs.frozen
class VariantSummary:
    """One variant on one metric: requests answered, values of the metric, their mean,
    standard deviation and 95% interval (Wilson for proportions, Student t for means)."""

    variant: str
    requests: int
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


@attrs.frozen
class Comparison:
    """A variant against the control on one metric.

    ``p_value`` and ``ci_low``/``ci_high`` are those of the report's method: always-valid
    (sequential) by default. ``fixed_p_value`` is the fixed-horizon test's, shown for
    reference; it is valid only when the data is read once, at the planned size.
    """

    variant: str
    control: str
    difference: float  # mean(variant) - mean(control)
    relative: float  # difference / mean(control)
    test: str  # the fixed-horizon test: "two-proportion z" or "Welch t"
    statistic: float
    fixed_p_value: float
    p_value: float
    ci_low: float
    ci_high: float
    adjusted_p_value: float | None = None  # Benjamini-Hochberg, secondaries only
    significant: bool = False


@attrs.frozen
class MetricResult:
    """One metric of the experiment: its role, kind, per-variant summaries, comparisons,
    and the CUPED variance reduction when a covariate was used."""

    metric: str
    role: str
    goal: str
    binary: bool
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    threshold: float = 0.0
    variance_reduction: float | None = None


@attrs.frozen
class SampleRatioCheck:
    """Units per variant against the expected split. ``passed`` is None when there was
    nothing to compare with (no recorded design and no weights given)."""

    unit: str
    observed: dict[str, int]
    expected_share: dict[str, float]
    statistic: float
    p_value: float
    passed: bool | None


@attrs.frozen
class Decision:
    """What to do now: ``ship`` (``variant``), ``keep running`` or ``stop``, and why."""

    action: str
    variant: str | None
    reason: str


@attrs.frozen
class ABReport:
    """The outcome of :func:`ab_report`; ``str(report)`` is the text the CLI prints."""

    deployment: str
    method: str
    alpha: float
    srm: SampleRatioCheck
    metrics: tuple[MetricResult, ...]
    decision: Decision
    days: int = 1

    # the primary metric's fields, as the report had them before experiments had several
    @property
    def metric(self) -> str:
        return self.metrics[0].metric

    @property
    def binary(self) -> bool:
        return self.metrics[0].binary

    @property
    def variants(self) -> tuple[VariantSummary, ...]:
        return self.metrics[0].variants

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.metrics[0].comparisons

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data, JSON-safe: an undefined number (the spread of one
        value, a test without variance) is None, never NaN or infinity."""
        return attrs.asdict(self, recurse=True, value_serializer=_finite_or_none)

    def __str__(self) -> str:
        return render_text(self)


def _finite_or_none(instance: Any, attribute: Any, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- reading


@attrs.frozen
class _Requests:
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
class _Units:
    """One metric's values, one per unit, with each unit's variant, day and key."""

    codes: np.ndarray  # variant index per value
    days: np.ndarray  # day index per value (0 = the first day of the log)
    values: np.ndarray
    keys: Any  # () -> the sticky-key value per unit (pa array, null without a key)
    requests: np.ndarray  # distinct requests per variant


def _requests(preds: pa.Table) -> _Requests:
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
    return _Requests(ids, codes, t0, _days(ts - t0), keys, key_hashes, keyed, first, names, units)


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

    return (elapsed_us / DAY_US).astype(np.int64)


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
            table = np.append(entries.to_numpy(zero_copy_only=False).astype(np.int64), -1)
            index = pc.fill_null(chunk.indices, len(chunk.dictionary))
            out.append(table[index.to_numpy(zero_copy_only=False)])
        else:
            found = pc.fill_null(pc.index_in(chunk, value_set=value_set), -1)
            out.append(found.to_numpy(zero_copy_only=False).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _latest_per_request(ids: pa.ChunkedArray, ts: np.ndarray) -> np.ndarray:
    """True on the outcome that counts for each request: its latest (an outcome posted
    again replaces the earlier one). Equal request ids are found by their 64-bit hashes,
    sorted; only the ids whose hashes repeat are compared as strings."""
    import numpy as np
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
    order = np.lexsort((ts[candidates], codes))  # by request, then time: keep each last
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
    values = outcomes["outcome"].to_numpy(zero_copy_only=False).astype(float)
    ts = outcomes["timestamp"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    keep = np.isfinite(values)  # logs from before outcomes were checked may hold NaN
    keep &= _latest_per_request(outcomes["request_id"], np.where(keep, ts, np.iinfo(np.int64).min))
    return outcomes, keep


def _outcome_units(outcomes: pa.Table, keep: np.ndarray, req: _Requests,
                   per_variant: np.ndarray, start: Any, end: Any) -> _Units:
    """Each request's outcome with its variant, day and key: from the outcome's own credit
    (written by the server that answered it) or, for an outcome without one, by finding
    its request in the prediction log (one hash join over the request ids)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.serving.prediction_log import _as_utc

    values = outcomes["outcome"].to_numpy(zero_copy_only=False).astype(float)
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
        return _Units(codes, days, values, lambda: outcomes["key"], per_variant)
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

    return _Units(codes[sel], days[sel], values[sel], keys, per_variant)


def _answered(preds: pa.Table, design: dict[str, Any] | None) -> pa.Table:
    """The answered requests' rows: successful, and not the mirror's (its answers are only
    logged, never sent)."""
    import pyarrow as pa

    answered = _flat(preds["status"]) == 200
    mirrors = [design["mirror"]] if design and design.get("mirror") else []
    if mirrors:
        answered &= _codes(preds["variant"], mirrors) < 0
    if not answered.all():
        preds = preds.filter(answered)
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

    preds = read_prediction_log(stack, deployment,
                                columns=["request_id", "timestamp", "variant", "status", "key"])
    if preds.num_rows == 0 or not request_ids:
        return [None] * len(request_ids)
    preds = _answered(preds, latest_design(_stack(stack).datastore, deployment))
    # index_in gives the first row of each id: a request's first answer
    rows = pc.index_in(pa.array(request_ids, pa.string()),
                       value_set=preds["request_id"].combine_chunks())
    found = preds.take(pc.fill_null(rows, 0)) if preds.num_rows else None
    if found is None:
        return [None] * len(request_ids)
    hits = rows.is_valid().to_pylist()
    variants = found["variant"].to_pylist()
    times = found["timestamp"].cast(pa.int64()).to_pylist()
    keys = found["key"].to_pylist()
    return [(v, t, k) if hit else None
            for hit, v, t, k in zip(hits, variants, times, keys, strict=True)]


def _read(stack: Stack | str | None, deployment: str, experiment: Experiment, start: Any,
          end: Any) -> tuple[dict[str, _Units], _Requests, dict[str, Any] | None]:
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
    out: dict[str, _Units] = {}
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
            out[spec.name] = _Units(req.codes, req.days, values, lambda: req.keys, per_variant)
            continue
        rows = np.flatnonzero(valid)
        out[spec.name] = _Units(req.codes[rows], req.days[rows], values[rows],
                                lambda rows=rows: req.keys.take(rows), per_variant)
    return out, req, design


def _covariate_values(covariate: Covariate, units: _Units) -> np.ndarray:
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


# --------------------------------------------------------------------------- analysis


def _sample_ratio(req: _Requests, design: dict[str, Any] | None,
                  experiment: Experiment) -> SampleRatioCheck:
    import numpy as np

    from lamina.serving.experiment import design_weights
    from lamina.statistics.classical import chi_square_gof

    names = req.names
    unit, counts = req.units.result()
    weights = dict(experiment.weights) if experiment.weights else design_weights(design, names)
    all_names = list(names) + [w for w in (weights or {}) if w not in names]
    counts = np.concatenate([counts, np.zeros(len(all_names) - len(names), dtype=counts.dtype)])
    observed = {n: int(c) for n, c in zip(all_names, counts, strict=True)}
    if not weights:
        return SampleRatioCheck(unit, observed, {}, math.nan, math.nan, None)
    shares = np.array([weights.get(n, 0.0) for n in all_names], dtype=float)
    shares = shares / shares.sum()
    stat, p = chi_square_gof(counts, shares)
    return SampleRatioCheck(unit, observed, dict(zip(all_names, shares.tolist(), strict=True)),
                            stat, p, p >= experiment.srm_alpha)


def _distinct(values: np.ndarray) -> int:
    """How many distinct values (Arrow's hash table: numpy's ``unique`` sorts, five
    times slower here)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return len(pc.unique(pa.array(values)))


def _metric(spec: MetricSpec, units: _Units, names: list[str], control: str,
            experiment: Experiment, days: int) -> MetricResult:
    import numpy as np

    from lamina.statistics import classical, sequential
    from lamina.statistics.variance import cuped_adjust

    y = units.values
    reduction = None
    if experiment.covariate is not None and y.size:
        x = _covariate_values(experiment.covariate, units)
        if np.isfinite(x).any():
            adjusted, _theta = cuped_adjust(x, y)
            var_y = float(np.var(y))
            reduction = 1.0 - float(np.var(adjusted)) / var_y if var_y > 0 else 0.0
            y = adjusted
    binary = bool(y.size) and reduction is None and bool(np.isin(units.values, (0.0, 1.0)).all())
    k = len(names)
    cell = units.codes * days + units.days
    shape = (k, days)
    n = np.bincount(cell, minlength=k * days).reshape(shape).cumsum(axis=1)
    s1 = np.bincount(cell, weights=y, minlength=k * days).reshape(shape).cumsum(axis=1)
    s2 = np.bincount(cell, weights=y * y, minlength=k * days).reshape(shape).cumsum(axis=1)
    mean, var = classical.mean_and_var(n, s1, s2)
    summaries = []
    for i, name in enumerate(names):
        ni, mi, vi = int(n[i, -1]), float(mean[i, -1]), float(var[i, -1])
        sd = math.sqrt(vi) if ni > 1 else math.nan
        if ni == 0:
            lo = hi = mi = math.nan
        elif binary:
            lo, hi = (float(v) for v in classical.wilson_ci(s1[i, -1], ni))
        else:
            lo, hi = (float(v) for v in classical.mean_ci(mi, sd, ni))
        summaries.append(VariantSummary(name, int(units.requests[i]), ni, mi, sd, lo, hi))
    c = names.index(control)
    comparisons = []
    for i, name in enumerate(names):
        if i == c or n[i, -1] < 2 or n[c, -1] < 2:
            continue
        diff = mean[i] - mean[c]
        v = var[i] / n[i] + var[c] / n[c]
        planned = (var[i, -1] + var[c, -1]) / experiment.horizon
        tau2 = sequential.mixing_variance(planned, experiment.alpha)
        seq_p = float(sequential.running_p_value(diff, v, tau2)[-1])
        d, vv = float(diff[-1]), float(v[-1])
        if binary:
            stat, fixed_p = classical.two_proportions(s1[c, -1], n[c, -1], s1[i, -1], n[i, -1])
            test = "two-proportion z"
        else:
            stat, _df, fixed_p = classical.welch(mean[c, -1], var[c, -1], n[c, -1],
                                                 mean[i, -1], var[i, -1], n[i, -1])
            test = "Welch t"
        if experiment.method == "sequential":
            half = float(sequential.half_width(vv, tau2, experiment.alpha))
            p = seq_p
        else:
            half = float(classical.normal_quantile(1 - experiment.alpha / 2)) * math.sqrt(vv)
            p = float(fixed_p)
        base = float(mean[c, -1])
        comparisons.append(Comparison(
            name, control, d, d / base if base else math.nan, test, float(stat), float(fixed_p),
            p, d - half, d + half, None, p < experiment.alpha,
        ))
    return MetricResult(spec.name, spec.role, spec.goal, binary, tuple(summaries),
                        tuple(comparisons), spec.threshold, reduction)


def _adjust_secondaries(metrics: list[MetricResult], alpha: float) -> list[MetricResult]:
    """Benjamini-Hochberg over every secondary comparison: a secondary is significant only
    when its adjusted p-value is below alpha."""
    from lamina.statistics.multiple import benjamini_hochberg

    flat = [(i, j) for i, m in enumerate(metrics) if m.role == "secondary"
            for j in range(len(m.comparisons))]
    if not flat:
        return metrics
    adjusted = benjamini_hochberg([metrics[i].comparisons[j].p_value for i, j in flat])
    out = list(metrics)
    for (i, j), q in zip(flat, adjusted, strict=True):
        comps = list(out[i].comparisons)
        comps[j] = attrs.evolve(comps[j], adjusted_p_value=q, significant=q < alpha)
        out[i] = attrs.evolve(out[i], comparisons=tuple(comps))
    return out


def _better(comp: Comparison, goal: str) -> bool:
    return comp.significant and (comp.difference > 0) == (goal == "increase")


def _worse(comp: Comparison, goal: str) -> bool:
    return comp.significant and (comp.difference < 0) == (goal == "increase")


def decide(srm: SampleRatioCheck, metrics: tuple[MetricResult, ...], method: str) -> Decision:
    """Ship, keep running or stop, with the reason (see the module's docstring)."""
    if srm.passed is False:
        return Decision(STOP, None, (
            f"sample ratio mismatch: {srm.unit} per variant {srm.observed} do not match the "
            f"split (chi-square p = {srm.p_value:.2g}); the assignment is broken and no result "
            "can be trusted. Fix the split and restart the experiment"))
    for m in metrics:
        if m.role != "guardrail":
            continue
        for comp in m.comparisons:
            degradation = -comp.relative if m.goal == "increase" else comp.relative
            if _worse(comp, m.goal) and degradation > m.threshold:
                return Decision(STOP, None, (
                    f"guardrail {m.metric}: {comp.variant} is worse than {comp.control} by "
                    f"{degradation:.1%} (threshold {m.threshold:.0%}, p = {comp.p_value:.2g})"))
    primary = metrics[0]
    winners = [c for c in primary.comparisons if _better(c, primary.goal)]
    if winners:
        best = max(winners, key=lambda c: c.difference if primary.goal == "increase" else -c.difference)
        label = "always-valid" if method == "sequential" else "fixed-horizon"
        return Decision(SHIP, best.variant, (
            f"{best.variant} beats {best.control} on {primary.metric}: {best.difference:+.4g} "
            f"({best.relative:+.1%}), {label} interval [{best.ci_low:+.4g}, {best.ci_high:+.4g}], "
            f"p = {best.p_value:.2g}"))
    if primary.comparisons and all(_worse(c, primary.goal) for c in primary.comparisons):
        return Decision(STOP, None, (
            f"every variant is worse than {primary.comparisons[0].control} on "
            f"{primary.metric}: keep the control"))
    return Decision(KEEP_RUNNING, None, (
        f"no variant differs from the control on {primary.metric} yet: every interval still "
        "contains 0" + (" (the sequential test may be read again at any time)"
                        if method == "sequential" else "")))


def ab_report(
    stack: Stack | str | None,
    deployment: str,
    *,
    metric: str | None = None,
    control: str | None = None,
    start: Any = None,
    end: Any = None,
    alpha: float | None = None,
    experiment: Experiment | None = None,
) -> ABReport:
    """Read the A/B test of ``deployment`` from its logs: the sample-ratio check, each
    metric per variant with its comparison against ``control`` (default: the first variant
    by name), and the decision.

    :param metric: the primary metric (``outcome`` or a numeric prediction-log column),
        overriding the experiment's.
    :param experiment: metrics, method, alpha, weights and covariate
        (:class:`~lamina.serving.experiment.Experiment`; default: a sequential test of
        the outcomes).
    """
    experiment = experiment or Experiment()
    if metric is not None:
        experiment = attrs.evolve(experiment, primary=attrs.evolve(experiment.primary, name=metric))
    if alpha is not None:
        experiment = attrs.evolve(experiment, alpha=alpha)
    units, req, design = _read(stack, deployment, experiment, start, end)
    names = req.names
    control = control or experiment.control or names[0]
    if control not in names:
        raise ServingError(f"control variant {control!r} has no logged predictions",
                           hint=f"variants: {', '.join(names)}")
    primary = units[experiment.primary.name]
    if primary.values.size == 0:
        raise ServingError(f"deployment {deployment!r}: no {experiment.primary.name} values "
                           "to compare", hint="post outcomes to /v2/models/NAME/outcomes or "
                           "call lamina.serving.log_outcomes(...)")
    days = int(max(int(u.days.max()) if u.days.size else 0 for u in units.values())) + 1
    results = [_metric(spec, units[spec.name], names, control, experiment, days)
               for spec in experiment.metrics]
    metrics = tuple(_adjust_secondaries(results, experiment.alpha))
    srm = _sample_ratio(req, design, experiment)
    return ABReport(deployment, experiment.method, experiment.alpha, srm, metrics,
                    decide(srm, metrics, experiment.method), days)


# --------------------------------------------------------------------------- text


def _num(x: float | None, fmt: str = ".4g") -> str:
    """A number as text, ``-`` where it is undefined (nan, infinite)."""
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def render_text(report: ABReport) -> str:
    """The report as the CLI prints it (plain text; user strings are printed as given)."""
    srm = report.srm
    lines = [f"A/B report: deployment {report.deployment}, {report.days} day(s) of data"]
    if srm.passed is None:
        lines.append(f"sample ratio: not checked ({srm.unit} {srm.observed}; no recorded split "
                     "and no weights given)")
    else:
        verdict = "ok" if srm.passed else "MISMATCH: the split is broken"
        expected = ", ".join(f"{k} {v:.1%}" for k, v in srm.expected_share.items())
        lines.append(f"sample ratio: {verdict} ({srm.unit} {srm.observed}, expected {expected}; "
                     f"chi-square = {srm.statistic:.3g}, p = {srm.p_value:.3g})")
    method = ("always-valid (sequential, may be read at any time)" if report.method == "sequential"
              else "fixed-horizon (valid only when read once, at the planned sample size)")
    lines.append(f"intervals and p-values: {method}; alpha {report.alpha:g}")
    for m in report.metrics:
        kind = "proportion" if m.binary else "mean"
        extra = f", goal {m.goal}" + (f", threshold {m.threshold:.0%}" if m.role == "guardrail" else "")
        if m.variance_reduction is not None:
            extra += f", CUPED variance -{m.variance_reduction:.0%}"
        lines.append("")
        lines.append(f"{m.role} metric {m.metric} ({kind}{extra})")
        lines.append(f"  {'variant':<12} {'requests':>9} {'n':>9} {'mean':>10} {'95% CI':>23}")
        for v in m.variants:
            ci = f"[{_num(v.ci_low)}, {_num(v.ci_high)}]" if not math.isnan(v.ci_low) else "-"
            lines.append(f"  {v.variant:<12} {v.requests:>9} {v.n:>9} {_num(v.mean):>10} {ci:>23}")
        for c in m.comparisons:
            rel = f" ({c.relative:+.1%})" if not math.isnan(c.relative) else ""
            adj = f", BH-adjusted p = {c.adjusted_p_value:.3g}" if c.adjusted_p_value is not None else ""
            verdict = "significant" if c.significant else "not significant"
            lines.append(
                f"  {c.variant} vs {c.control}: difference {c.difference:+.4g}{rel}, "
                f"interval [{c.ci_low:+.4g}, {c.ci_high:+.4g}], p = {c.p_value:.3g}{adj} "
                f"({verdict}); fixed-horizon {c.test} = {_num(c.statistic, '.3f')}, "
                f"p = {c.fixed_p_value:.3g}")
    d = report.decision
    lines.append("")
    lines.append(f"decision: {d.action.upper()}" + (f" {d.variant}" if d.variant else "")
                 + f": {d.reason}")
    return "\n".join(lines)

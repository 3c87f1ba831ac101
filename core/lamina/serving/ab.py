"""Read a deployment's A/B test from its logs: ``lamina ab report``.

Each request's variant comes from the prediction log, its outcome from the outcomes log
(credited to the variant that answered it, never a mirror; the latest outcome of a
request wins: :mod:`lamina.serving.ab_read`). The report, in the order a careful reader
needs it:

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
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving.ab_read import Requests, Units, covariate_values, read_units
from lamina.serving.errors import ServingError
from lamina.serving.experiment import Experiment, MetricSpec

if TYPE_CHECKING:

    from lamina.stack import Stack

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


# --------------------------------------------------------------------------- analysis


def _sample_ratio(req: Requests, design: dict[str, Any] | None,
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


def _metric(spec: MetricSpec, units: Units, names: list[str], control: str,
            experiment: Experiment, days: int) -> MetricResult:
    import numpy as np

    from lamina.statistics import classical, sequential
    from lamina.statistics.variance import cuped_adjust

    y = units.values
    reduction = None
    if experiment.covariate is not None and y.size:
        x = covariate_values(experiment.covariate, units)
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
    units, req, design = read_units(stack, deployment, experiment, start, end)
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

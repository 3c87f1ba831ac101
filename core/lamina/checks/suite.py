"""What a check suite is: a label column, the kind of task, and a list of checks.

A suite is written in TOML (``checks.toml``) or built in Python; both give the same
:class:`Suite`. Every key is validated when the suite is read: a typo is an error naming
the check, the key and the keys allowed, never a silently skipped check.

::

    name = "churn-gate"
    target = "churn"              # the label column of the data
    task = "classification"       # or "regression"

    [[checks]]
    kind = "metric"
    metric = "accuracy"
    min = 0.75
    slices = ["segment"]          # also on every value of these columns

    [[checks]]
    kind = "champion"             # no worse than the current champion by > margin
    metric = "accuracy"
    margin = 0.01
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.errors import CheckSuiteError

#: Metrics per task: higher is better for accuracy, auc and r2; lower for the errors.
CLASSIFICATION_METRICS = ("accuracy", "error_rate", "precision", "recall", "f1", "auc",
                          "log_loss", "brier")
REGRESSION_METRICS = ("mae", "rmse", "mse", "r2")
LOWER_IS_BETTER = frozenset({"error_rate", "log_loss", "brier", "mae", "rmse", "mse"})
TASKS = ("classification", "regression")
DIRECTIONS = ("increase", "decrease")


def _names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _checks(value: Any) -> tuple[Check, ...]:
    return tuple(value)


@attrs.frozen
class Check:
    """One check of a suite. ``kind`` says which; the other fields are its options.

    - ``metric``: ``metric`` at least ``min`` (or at most ``max``) overall and, with
      ``slices``, on every value of each slice column that has ``min_rows`` rows.
    - ``champion``: ``metric`` no worse than the champion's on the same rows by more than
      ``margin``, by a one-sided paired test at level ``alpha`` (see ``docs/models.md``);
      with ``slices``, on every slice too.
    - ``invariance``: changing ``column`` (``add``, ``scale`` or ``set``) moves at most a
      share ``max_changed`` of the predictions (by more than ``tolerance``).
    - ``directional``: ``add`` to ``column`` moves the prediction (the probability of
      ``positive`` for a classifier) in direction ``expect``; at most a share
      ``max_violations`` of rows may move the other way (by more than ``tolerance``).
    - ``calibration``: expected calibration error at most ``max_ece`` over ``bins`` equal
      width bins, and/or Brier score at most ``max_brier`` (classifiers with
      ``predict_proba``).
    - ``latency``: the median time to predict ``batch_size`` rows, over ``repeats``
      calls, at most ``max_ms`` milliseconds.
    - ``schema``: the data has every input the model's schema names, with a compatible
      datatype, and the model returns one finite prediction per row.
    """

    kind: str
    name: str = ""
    metric: str = ""
    min: float | None = None
    max: float | None = None
    slices: tuple[str, ...] = attrs.field(default=(), converter=_names)
    min_rows: int = 30
    margin: float = 0.0
    alpha: float = 0.05
    column: str = ""
    add: float | None = None
    scale: float | None = None
    set: Any = None
    tolerance: float = 1e-9
    max_changed: float = 0.0
    expect: str = "increase"
    max_violations: float = 0.0
    max_ece: float | None = None
    max_brier: float | None = None
    bins: int = 10
    batch_size: int = 1000
    repeats: int = 5
    max_ms: float | None = None

    @property
    def label(self) -> str:
        """The check's name, or one made from its kind and options."""
        if self.name:
            return self.name
        if self.kind in ("metric", "champion"):
            return f"{self.kind}:{self.metric}"
        if self.kind in ("invariance", "directional"):
            return f"{self.kind}:{self.column}"
        return self.kind


#: Options each kind takes (beyond kind and name).
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "metric": ("metric", "min", "max", "slices", "min_rows"),
    "champion": ("metric", "margin", "alpha", "slices", "min_rows"),
    "invariance": ("column", "add", "scale", "set", "tolerance", "max_changed"),
    "directional": ("column", "add", "scale", "expect", "tolerance", "max_violations"),
    "calibration": ("max_ece", "max_brier", "bins", "slices", "min_rows"),
    "latency": ("batch_size", "repeats", "max_ms"),
    "schema": (),
}


@attrs.frozen
class Suite:
    """A check suite: ``target`` (the label column), ``task`` (``classification`` or
    ``regression``), ``positive`` (the positive class for probabilities), ``features``
    (the model's input columns; default: its schema's, else every column but the target
    and slice columns) and ``checks``."""

    name: str = "checks"
    target: str = ""
    task: str = "classification"
    positive: Any = 1
    features: tuple[str, ...] = attrs.field(default=(), converter=_names)
    checks: tuple[Check, ...] = attrs.field(default=(), converter=_checks)

    def __attrs_post_init__(self) -> None:
        validate(self, f"suite {self.name!r}")

    @property
    def needs_champion(self) -> bool:
        return any(c.kind == "champion" for c in self.checks)

    @property
    def slice_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for c in self.checks for s in c.slices))

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True)


def _fail(where: str, message: str, hint: str) -> CheckSuiteError:
    return CheckSuiteError(f"{where}: {message}", hint=hint)


def validate(suite: Suite, where: str) -> None:
    """Raise :class:`CheckSuiteError` naming the first thing wrong in ``suite``."""
    if suite.task not in TASKS:
        raise _fail(where, f"task {suite.task!r} is not one of {', '.join(TASKS)}",
                    'task = "classification" or task = "regression"')
    metrics = CLASSIFICATION_METRICS if suite.task == "classification" else REGRESSION_METRICS
    if not suite.checks:
        raise _fail(where, "has no checks", 'add [[checks]] with kind = "metric", ...')
    seen: set[str] = set()
    for i, c in enumerate(suite.checks):
        at = f"{where}, checks[{i}] ({c.label})"
        if c.kind not in KIND_KEYS:
            raise _fail(at, f"kind {c.kind!r} is not a check",
                        f"kinds are: {', '.join(KIND_KEYS)}")
        if c.label in seen:
            raise _fail(at, f"a second check named {c.label!r}", 'give it a name = "..."')
        seen.add(c.label)
        needs_target = c.kind in ("metric", "champion", "calibration")
        if needs_target and not suite.target:
            raise _fail(at, "needs the label column", 'set target = "COLUMN" in the suite')
        if c.kind in ("metric", "champion") and c.metric not in metrics:
            raise _fail(at, f"metric {c.metric!r} is not a {suite.task} metric",
                        f"{suite.task} metrics: {', '.join(metrics)}")
        if c.kind == "metric" and c.min is None and c.max is None:
            raise _fail(at, "has no bound", "give min = ... or max = ...")
        if c.kind == "champion" and not (c.margin >= 0 and 0 < c.alpha < 0.5):
            raise _fail(at, f"margin {c.margin} / alpha {c.alpha} out of range",
                        "margin >= 0 (in the metric's unit), 0 < alpha < 0.5")
        if c.kind in ("invariance", "directional"):
            if not c.column:
                raise _fail(at, "names no column", 'column = "NAME"')
            changes = [k for k in ("add", "scale", "set") if getattr(c, k) is not None]
            if len(changes) != 1 or (c.kind == "directional" and changes == ["set"]):
                raise _fail(at, f"needs exactly one change, got {changes or 'none'}",
                            "add = 1.0, scale = 1.1" + (" or set = VALUE"
                                                         if c.kind == "invariance" else ""))
        if c.kind == "directional" and c.expect not in DIRECTIONS:
            raise _fail(at, f"expect {c.expect!r} is not increase or decrease",
                        'expect = "increase"')
        if c.kind == "calibration":
            if suite.task != "classification":
                raise _fail(at, "calibration needs a classifier", 'task = "classification"')
            if c.max_ece is None and c.max_brier is None:
                raise _fail(at, "has no bound", "give max_ece = ... and/or max_brier = ...")
            if c.bins < 2:
                raise _fail(at, f"bins = {c.bins}", "bins >= 2 (10 is usual)")
        if c.kind == "latency" and (c.max_ms is None or c.batch_size < 1 or c.repeats < 1):
            raise _fail(at, "needs max_ms, batch_size >= 1 and repeats >= 1",
                        "max_ms = 50, batch_size = 1000, repeats = 5")
        for share in ("max_changed", "max_violations"):
            value = getattr(c, share)
            if not (0 <= value <= 1) or math.isnan(value):
                raise _fail(at, f"{share} = {value} is not a share", f"0 <= {share} <= 1")
        if c.min_rows < 1:
            raise _fail(at, f"min_rows = {c.min_rows}", "min_rows >= 1")


_SUITE_KEYS = ("name", "target", "task", "positive", "features", "checks")


def suite_from_dict(data: Mapping[str, Any], *, where: str = "suite") -> Suite:
    """A :class:`Suite` from a TOML table; unknown keys are errors."""
    unknown = sorted(set(data) - set(_SUITE_KEYS))
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}", f"keys are: {', '.join(_SUITE_KEYS)}")
    raw_checks = data.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise _fail(where, "has no [[checks]]", 'add [[checks]] with kind = "metric", ...')
    checks = []
    for i, raw in enumerate(raw_checks):
        at = f"{where}, checks[{i}]"
        if not isinstance(raw, Mapping) or "kind" not in raw:
            raise _fail(at, "has no kind", f"kind = one of {', '.join(KIND_KEYS)}")
        kind = str(raw["kind"])
        if kind not in KIND_KEYS:
            raise _fail(at, f"kind {kind!r} is not a check", f"kinds are: {', '.join(KIND_KEYS)}")
        allowed = ("kind", "name", *KIND_KEYS[kind])
        extra = sorted(set(raw) - set(allowed))
        if extra:
            raise _fail(at, f"unknown key {extra[0]!r} for a {kind} check",
                        f"keys are: {', '.join(allowed)}")
        values = dict(raw)
        if isinstance(values.get("slices"), str):
            values["slices"] = [values["slices"]]
        try:
            checks.append(Check(**values))
        except TypeError as exc:
            raise _fail(at, str(exc), f"keys are: {', '.join(allowed)}") from None
    name = str(data.get("name", "checks"))
    try:
        return Suite(
            name=name, target=str(data.get("target", "")),
            task=str(data.get("task", "classification")), positive=data.get("positive", 1),
            features=tuple(data.get("features") or ()), checks=tuple(checks),
        )
    except CheckSuiteError as exc:  # name the file, not only the suite
        raise CheckSuiteError(exc.message.replace(f"suite {name!r}", where, 1),
                              hint=exc.hint) from None


def load_suite(path: str | Path) -> Suite:
    """Read a suite from a TOML file (see this module's docstring)."""
    import tomllib

    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckSuiteError(f"check suite {str(p)!r} does not exist",
                              hint="pass the path of a checks.toml file (--suite PATH)") from None
    except tomllib.TOMLDecodeError as exc:
        raise CheckSuiteError(f"check suite {str(p)!r} is not valid TOML: {exc}",
                              hint="fix the line it names") from None
    data.setdefault("name", p.stem)
    return suite_from_dict(data, where=f"check suite {p.name}")


def as_suite(suite: Suite | str | Path | Mapping[str, Any] | Sequence[Check]) -> Suite:
    """A :class:`Suite` from a suite, a TOML path, a dict, or a list of checks."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, (str, Path)):
        return load_suite(suite)
    if isinstance(suite, Mapping):
        return suite_from_dict(suite)
    return Suite(checks=tuple(suite))

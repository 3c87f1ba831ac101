"""What an A/B experiment is: its design (the split a deployment was started with, recorded
by the server), its metrics (one primary, secondaries, guardrails), and the decisions taken
on it.

Records live in the stack's datastore beside the prediction log::

    experiments/<deployment>/design-<time>.json      written when a server starts
    experiments/<deployment>/decision-<time>.json    written by ``lamina ab decide``

An experiment file (``lamina ab report DEPLOYMENT --experiment experiment.toml``)::

    primary = "outcome"                 # or a numeric prediction-log column
    goal = "increase"                   # which direction is better for the primary
    method = "sequential"               # or "fixed" (read once at the planned size)
    alpha = 0.05
    horizon = 10000                     # units per variant the experiment plans to reach
    secondary = ["out.score"]
    [[guardrails]]
    metric = "latency_ms"
    goal = "decrease"                   # lower is better: an increase degrades
    threshold = 0.10                    # stop when it degrades by more than 10%
    [covariate]                         # CUPED: a pre-period value per sticky key
    path = "pre_period.parquet"
    key = "user_id"
    column = "spend"
"""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.serving.errors import ServingError

EXPERIMENTS = "experiments"
METHODS = ("sequential", "fixed")
GOALS = ("increase", "decrease")


@attrs.frozen
class MetricSpec:
    """One metric of an experiment.

    :param name: ``outcome`` (posted outcomes, one per request) or a numeric column of the
        prediction log (``latency_ms``, ``out.score``), one value per prediction row.
    :param role: ``primary``, ``secondary`` or ``guardrail``.
    :param goal: ``increase`` when higher is better, else ``decrease``.
    :param threshold: for a guardrail, the relative degradation (0.1 = 10%) that stops
        the experiment once it is significant.
    """

    name: str
    role: str = "primary"
    goal: str = "increase"
    threshold: float = 0.0


@attrs.frozen
class Covariate:
    """A pre-period value per unit for CUPED: a Parquet or CSV file (or an Arrow table /
    pandas frame from Python) with a column of sticky-key values and a numeric column."""

    source: Any
    key: str
    column: str


@attrs.frozen
class Experiment:
    """How to read a deployment's A/B test. Every field has a default: ``Experiment()``
    is a sequential test of posted outcomes, higher is better."""

    primary: MetricSpec = MetricSpec("outcome")
    secondary: tuple[MetricSpec, ...] = ()
    guardrails: tuple[MetricSpec, ...] = ()
    alpha: float = 0.05
    method: str = "sequential"
    horizon: int = 10_000
    srm_alpha: float = 0.001
    weights: Mapping[str, float] | None = None
    control: str | None = None
    covariate: Covariate | None = None

    def __attrs_post_init__(self) -> None:
        if self.method not in METHODS:
            raise ServingError(f"experiment method {self.method!r} is not one of "
                               f"{', '.join(METHODS)}", hint='method = "sequential"')
        if not 0 < self.alpha < 1 or not 0 < self.srm_alpha < 1:
            raise ServingError(f"alpha {self.alpha} and srm_alpha {self.srm_alpha} must be "
                               "between 0 and 1", hint="alpha = 0.05")
        if self.horizon < 2:
            raise ServingError(f"horizon {self.horizon} must be at least 2 units per variant",
                               hint="horizon = 10000")
        for m in self.metrics:
            if m.goal not in GOALS:
                raise ServingError(f"metric {m.name!r}: goal {m.goal!r} is not one of "
                                   f"{', '.join(GOALS)}", hint='goal = "decrease"')
            if m.threshold < 0:
                raise ServingError(f"guardrail {m.name!r}: threshold {m.threshold} is negative",
                                   hint="threshold = 0.1 stops at a 10% degradation")

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        """Primary first, then secondaries, then guardrails."""
        return (self.primary, *self.secondary, *self.guardrails)

    @classmethod
    def from_file(cls, path: str | Path) -> Experiment:
        """Read an experiment file (TOML; see the module's docstring)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ServingError(f"cannot read experiment file {path}: {err.strerror}",
                               hint="give the path of an experiment TOML file") from None
        except tomllib.TOMLDecodeError as err:
            raise ServingError(f"{path}: not valid TOML: {err}",
                               hint="see docs/experiments.md for the format") from None
        return cls.from_dict(data, where=str(path), base=path.parent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "experiment",
                  base: Path | None = None) -> Experiment:
        """An experiment from a table of the file's keys."""
        known = {"primary", "goal", "method", "alpha", "horizon", "srm_alpha", "secondary",
                 "guardrails", "weights", "control", "covariate"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ServingError(f"{where}: unknown key {unknown[0]!r}",
                               hint=f"keys are: {', '.join(sorted(known))}")

        def metric(item: Any, role: str) -> MetricSpec:
            if isinstance(item, str):
                return MetricSpec(item, role, "decrease" if role == "guardrail" else "increase")
            if not isinstance(item, Mapping) or "metric" not in item:
                raise ServingError(f"{where}: a {role} metric must be a name or a table with "
                                   '"metric"', hint='{ metric = "latency_ms", threshold = 0.1 }')
            return MetricSpec(str(item["metric"]), role,
                              str(item.get("goal", "decrease" if role == "guardrail" else "increase")),
                              float(item.get("threshold", 0.0)))

        covariate = None
        if "covariate" in data:
            c = data["covariate"]
            if not isinstance(c, Mapping) or not {"path", "key", "column"} <= set(c):
                raise ServingError(f"{where}: covariate needs path, key and column",
                                   hint='[covariate]\npath = "pre.parquet"\nkey = "user_id"\n'
                                   'column = "spend"')
            source = Path(str(c["path"]))
            if base is not None and not source.is_absolute():
                source = base / source
            covariate = Covariate(source, str(c["key"]), str(c["column"]))
        try:
            return cls(
                primary=MetricSpec(str(data.get("primary", "outcome")), "primary",
                                   str(data.get("goal", "increase"))),
                secondary=tuple(metric(m, "secondary") for m in data.get("secondary", ())),
                guardrails=tuple(metric(m, "guardrail") for m in data.get("guardrails", ())),
                alpha=float(data.get("alpha", 0.05)),
                method=str(data.get("method", "sequential")),
                horizon=int(data.get("horizon", 10_000)),
                srm_alpha=float(data.get("srm_alpha", 0.001)),
                weights=parse_weights(data["weights"]) if "weights" in data else None,
                control=data.get("control"),
                covariate=covariate,
            )
        except (TypeError, ValueError) as err:
            raise ServingError(f"{where}: {err}", hint="see docs/experiments.md") from None


def parse_weights(value: Any) -> dict[str, float]:
    """``{"a": 50, "b": 50}`` or ``"a=50,b=50"`` as a dict of positive weights."""
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ServingError(f"weights {value!r} are not NAME=PERCENT pairs",
                               hint="--weights a=50,b=50")
        value = {k.strip(): v for k, _, v in pairs}
    if not isinstance(value, Mapping) or not value:
        raise ServingError(f"weights {value!r} must name each variant's share",
                           hint="weights = { a = 50, b = 50 }")
    try:
        out = {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ServingError(f"weights {dict(value)!r}: every share must be a number",
                           hint="--weights a=50,b=50") from None
    if any(not (w >= 0) for w in out.values()) or sum(out.values()) <= 0:
        raise ServingError(f"weights {out!r} must be non-negative and not all zero",
                           hint="--weights a=50,b=50")
    return out


# --------------------------------------------------------------------------- records


def _key(deployment: str, kind: str) -> str:
    return f"{EXPERIMENTS}/{deployment}/{kind}-{time.time_ns():020d}.json"


def _read_all(datastore: Any, deployment: str, kind: str) -> list[dict[str, Any]]:
    out = []
    for key in sorted(datastore.list_records(f"{EXPERIMENTS}/{deployment}")):
        if key.rsplit("/", 1)[-1].startswith(f"{kind}-") and key.endswith(".json"):
            data = datastore.get_record(key)
            if data is not None:
                try:
                    out.append(json.loads(data))
                except ValueError:
                    continue  # a damaged record is skipped, never trusted
    return out


def record_design(datastore: Any, deployment: Any) -> str:
    """Record the split a deployment starts serving with (the sample-ratio check compares
    the traffic with it). Called by the server at start."""
    design = {
        "deployment": deployment.name,
        "weights": {v.name: v.weight for v in deployment.variants},
        "sticky_key": deployment.sticky_key,
        "mirror": deployment.mirror.name if deployment.mirror else None,
        "models": {v.name: v.model for v in deployment.variants},
        # variant -> registered version it serves (lamina.registry.pin_deployment)
        "registered": dict(deployment.deployed.get("models") or {}),
        "recorded_at": time.time(),
    }
    key = _key(deployment.name, "design")
    datastore.put_record(key, json.dumps(design).encode(), exclusive=True)
    return key


def winner_version(stack: Any, deployment: str, variant: str) -> Any:
    """The registered version (:class:`lamina.interfaces.ModelVersion`) variant
    ``variant`` of ``deployment`` serves, or None when it serves an unregistered step:
    what the deployment recorded when it pinned ``model:NAME@ALIAS`` (its latest design),
    else a registered version of the same ``FLOW/RUN/STEP``."""
    from lamina.registry import get_registry

    design = latest_design(stack.datastore, deployment) or {}
    registry = get_registry(stack)
    pinned = (design.get("registered") or {}).get(variant)
    if pinned:
        return registry.get(pinned["name"], int(pinned["version"]))
    ref = (design.get("models") or {}).get(variant)
    if not ref:
        return None
    for name in registry.names():
        for version in reversed(list(registry.versions(name))):
            if version.ref == ref:
                return version
    return None


def promote_winner(stack: Any, deployment: str, variant: str, *, alias: str = "champion",
                   reason: str = "", force: bool = False) -> dict[str, Any] | None:
    """Promote the registered version the winning ``variant`` serves to ``alias`` (what
    ``lamina ab decide --action ship`` does once the registry exists); the version's gate
    applies (``force`` overrides it, recorded). Returns the move as a dict, or None when
    the variant serves no registered version."""
    from lamina.registry import promote

    version = winner_version(stack, deployment, variant)
    if version is None:
        return None
    change = promote(version.name, version.version, alias,
                     reason=f"A/B {deployment}: {variant} shipped" + (f" ({reason})" if reason
                                                                      else ""),
                     force=force, stack=stack)
    return {"name": change.name, "version": change.version, "alias": change.alias,
            "previous": change.previous, "forced": change.forced}


def latest_design(datastore: Any, deployment: str) -> dict[str, Any] | None:
    """The design of the deployment's latest server start, or None."""
    designs = _read_all(datastore, deployment, "design")
    return designs[-1] if designs else None


def record_decision(datastore: Any, deployment: str, decision: Mapping[str, Any]) -> str:
    """Append a decision (never overwritten: the history is the audit trail)."""
    key = _key(deployment, "decision")
    datastore.put_record(key, json.dumps(dict(decision), default=str).encode(), exclusive=True)
    return key


def decisions(datastore: Any, deployment: str) -> list[dict[str, Any]]:
    """Every decision recorded for the deployment, oldest first."""
    return _read_all(datastore, deployment, "decision")


def design_weights(design: Mapping[str, Any] | None, variants: Sequence[str]) -> dict[str, float] | None:
    """The recorded split over the variants seen in the log (a mirror takes no traffic)."""
    if not design:
        return None
    weights = {k: float(v) for k, v in design.get("weights", {}).items()}
    return {v: weights.get(v, 0.0) for v in variants} if weights else None

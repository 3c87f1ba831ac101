"""Which runs a retention policy keeps, and why.

:func:`decide` looks only at compact :class:`RunSummary` values (a few fields per run),
so a store of 100,000 runs is decided in a few MB. The reasons are the words ``lamina gc
--dry-run`` and ``lamina runs --delete`` print.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import attrs

from lamina.namespaces import record_namespace

if TYPE_CHECKING:
    from lamina.config.retention import RetentionOptions
    from lamina.records import RunRecord

#: The tag monitoring runs carry (``monitoring_max_age`` applies to them).
MONITORING_TAG = "monitoring"


@attrs.frozen
class RunSummary:
    """What the policy needs of a run, and the object keys its metadata record holds
    (code snapshot, package list) for the mark phase."""

    run_id: str
    flow: str
    namespace: str
    started_at: float
    status: str
    tags: tuple[str, ...] = ()
    production: bool = False
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, run: RunRecord) -> RunSummary:
        """The summary of a metadata record."""
        keys = tuple(v for v in (*run.code_files.values(), run.packages_key) if v)
        return cls(
            run_id=run.run_id, flow=run.flow, namespace=record_namespace(run.namespace, run.user),
            started_at=float(run.started_at), status=run.status, tags=tuple(run.tags),
            production=bool(run.production), keys=keys,
        )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def protected_reason(run: RunSummary, options: RetentionOptions,
                     named: Collection[str] = ()) -> str | None:
    """Why ``run`` must stay whatever its age or rank (running, a protected tag,
    production, named by a keeper), or None."""
    if run.status == "running":
        return "running"
    tags = [t for t in options.protected_tags if t in run.tags]
    if tags:
        return f"tagged {tags[0]!r}"
    if options.keep_production and run.production:
        return f"production ({run.namespace})"
    if run.run_id in named:
        return "needed by a deployment, a registered model or a feature materialization"
    return None


def decide(
    runs: Iterable[RunSummary], options: RetentionOptions, *, now: float,
    named: Collection[str] = (),
) -> dict[str, str]:
    """Run id -> the reason it is kept, for every run the policy keeps; runs absent from
    the answer may go.

    :param runs: every run of the store (any order).
    :param named: ids of runs that keepers (``lamina_retention_keep``) need.
    """
    newer = options.seconds("keep_newer_than")
    monitoring_age = options.seconds("monitoring_max_age")
    kept: dict[str, str] = {}
    per_flow: dict[str, int] = {}
    per_branch: dict[tuple[str, str], int] = {}
    for run in sorted(runs, key=lambda r: (-r.started_at, r.run_id)):
        reason = protected_reason(run, options, named)
        age = now - run.started_at
        old_monitoring = monitoring_age is not None and age > monitoring_age
        if reason is None and old_monitoring and MONITORING_TAG in run.tags:
            continue  # an old monitoring output: its own, shorter, retention
        rank = per_flow.get(run.flow, 0)
        branch_rank = per_branch.get((run.flow, run.namespace), 0)
        per_flow[run.flow] = rank + 1
        per_branch[(run.flow, run.namespace)] = branch_rank + 1
        if reason is None and newer is not None and age < newer:
            reason = f"newer than {options.keep_newer_than} ({_age(age)} old)"
        if reason is None and rank < options.keep_last:
            reason = f"one of the last {options.keep_last} runs of flow {run.flow!r}"
        if reason is None and branch_rank < options.keep_last_per_branch:
            reason = (f"one of the last {options.keep_last_per_branch} runs of flow "
                      f"{run.flow!r} in {run.namespace}")
        if reason is not None:
            kept[run.run_id] = reason
    return kept

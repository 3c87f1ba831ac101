"""``lamina gc``: delete the runs a stack's retention policy lets go, then every object
nothing kept points at, safely while flows run and while another gc runs.

The phases (the safety argument is in docs/retention.md):

1. **decide**: list every run of the metadata store (compactly), ask the keepers
   (``lamina_retention_keep``) and apply the policy;
2. **mark**: stream every record of the datastore; the records of a kept run, of a run
   the metadata store does not know yet (being created), and every JSON record outside
   ``runs/`` (deployments, experiments...) are roots: every object key they name goes to
   an on-disk mark set. A kept task that reused another run's result (``reused_from``)
   keeps that run too;
3. **delete runs**: the records of every run not kept (datastore first, then the metadata
   store, so an interrupted gc leaves runs it will finish deleting next time, never a
   kept run without its records);
4. **sweep**: stream the objects; an unmarked one whose mtime is older than the grace
   period goes (``delete_blob`` re-checks the mtime as it deletes, and writers touch an
   object they reuse).

Prediction logs and monitoring outputs older than their own maximum age go too.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.datastore.hashing import is_object_key
from lamina.errors import LaminaError
from lamina.retention.marks import MarkSet, keys_in
from lamina.retention.policy import RunSummary, decide

if TYPE_CHECKING:
    from lamina.stack import Stack

#: Datastore folders of prediction logs (``prediction_logs_max_age``).
LOG_PREFIXES = ("predictions", "outcomes")
_REUSED_FROM = re.compile(rb'"reused_from"\s*:\s*"([^"/]+)/')
_PARTITION_DATE = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")
_DATASTORE_METHODS = ("scan", "delete_blob", "delete_record")
_METADATA_METHODS = ("delete_runs",)
_PAGE = 1000


@attrs.define
class GcReport:
    """What a collection did (or, with ``dry_run``, would do)."""

    dry_run: bool
    grace_seconds: float
    runs_total: int = 0
    runs_kept: int = 0
    #: (run id, flow, started_at) of every run deleted (or that would be)
    runs_deleted: list[tuple[str, str, float]] = attrs.field(factory=list)
    records_deleted: int = 0
    objects_scanned: int = 0
    objects_marked: int = 0
    objects_deleted: int = 0
    bytes_reclaimed: int = 0
    #: unreferenced objects left because they are younger than the grace period
    objects_in_grace: int = 0
    logs_deleted: int = 0
    log_bytes_reclaimed: int = 0
    reports_deleted: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["runs_deleted"] = [
            {"id": r, "flow": f, "started_at": s} for r, f, s in self.runs_deleted
        ]
        return data


def require_collectable(stack: Stack) -> None:
    """Raise a clear error when the stack's datastore or metadata store lacks a method
    collection needs (``lamina.sdk.CollectableDatastore`` / ``CollectableMetadataStore``)."""
    for layer, component, needed, protocol in (
        ("datastore", stack.datastore, _DATASTORE_METHODS, "CollectableDatastore"),
        ("metadata", stack.metadata, _METADATA_METHODS, "CollectableMetadataStore"),
    ):
        missing = [m for m in needed if not callable(getattr(component, m, None))]
        if missing:
            raise LaminaError(
                f"stack {stack.name!r}: the {layer} {type(component).__name__} cannot be "
                f"collected: it has no {', '.join(missing)}",
                hint=f"upgrade its plugin, or implement lamina.sdk.{protocol} "
                "(docs/retention.md)",
            )


def named_runs(stack: Stack, run_ids: Iterable[str]) -> set[str]:
    """The full ids, among ``run_ids``, of the runs the keepers name (an answer may be a
    unique prefix of an id)."""
    answers: set[str] = set()
    for result in stack.hook.lamina_retention_keep(stack=stack):
        answers.update(str(r) for r in (result or ()) if r)
    if not answers:
        return set()
    ids = sorted(run_ids)
    known = set(ids)
    found = {r for r in answers if r in known}
    for prefix in answers - found:
        at = bisect.bisect_left(ids, prefix)
        while at < len(ids) and ids[at].startswith(prefix):
            found.add(ids[at])
            at += 1
    return found


def collect(
    stack: Stack, *, dry_run: bool = False, grace: float | None = None,
    now: float | None = None, progress: Callable[[str], None] | None = None,
) -> GcReport:
    """Apply the stack's retention policy (``stack.retention``): delete the runs it lets
    go, the objects nothing kept points at, old prediction logs and monitoring outputs.

    :param dry_run: change nothing; the report says what would go and the bytes freed.
    :param grace: seconds an unreferenced object must have been left untouched before it
        goes (default: the policy's ``grace``).
    :param now: the time the policy is applied at (default: now).
    :param progress: called with a short line as each phase starts.
    """
    require_collectable(stack)
    say = progress or (lambda line: None)
    started = time.monotonic()
    options = stack.retention
    grace_s = options.seconds("grace") if grace is None else float(grace)
    assert grace_s is not None
    now = time.time() if now is None else now
    cutoff = now - grace_s
    datastore, metadata = stack.datastore, stack.metadata
    fresh_for = float(getattr(datastore, "fresh_for", 0.0) or 0.0)
    if grace_s < 2 * fresh_for:
        raise LaminaError(
            f"stack {stack.name!r}: a grace period of {grace_s:g} s is too short for its "
            f"datastore, which refreshes a reused object only once it is {fresh_for:g} s old",
            hint=f"give a grace of at least {2 * fresh_for:g} s (--grace, or grace in "
            "[stacks.S.retention]), or lower the datastore's touch_after",
        )
    report = GcReport(dry_run=dry_run, grace_seconds=grace_s)
    purge = getattr(datastore, "purge_trash", None)
    if purge is not None and not dry_run:
        purge(cutoff)

    say("deciding which runs to keep")
    runs: dict[str, RunSummary] = {}
    for flow in metadata.list_flows():
        for record in metadata.list_runs(flow):
            runs[record.run_id] = RunSummary.of(record)
    report.runs_total = len(runs)
    kept = decide(runs.values(), options, now=now, named=named_runs(stack, runs))

    say(f"marking what {len(kept):,} kept runs point at")
    with MarkSet() as marks:
        doomed_records = _mark(stack, runs, kept, marks, report, now=now, dry_run=dry_run)
        report.runs_kept = len(kept)
        report.objects_marked = marks.count()

        doomed = sorted((r for r in runs.values() if r.run_id not in kept),
                        key=lambda r: r.started_at)
        say(f"deleting {len(doomed):,} runs")
        report.runs_deleted = [(r.run_id, r.flow, r.started_at) for r in doomed]
        if dry_run:
            report.records_deleted = sum(doomed_records.get(r.run_id, 0) for r in doomed)
        else:
            _delete_runs(stack, [r.run_id for r in doomed], report)

        say("sweeping unreferenced objects")
        _sweep(datastore, marks, report, cutoff=cutoff, dry_run=dry_run)
    report.reports_deleted = _old_reports(stack, options.seconds("monitoring_max_age"),
                                          now=now, dry_run=dry_run)
    report.seconds = time.monotonic() - started
    return report


def _mark(
    stack: Stack, runs: dict[str, RunSummary], kept: dict[str, str], marks: MarkSet,
    report: GcReport, *, now: float, dry_run: bool,
) -> dict[str, int]:
    """Mark every object a root names; return, per run that may go, its record count."""
    datastore = stack.datastore
    log_age = stack.retention.seconds("prediction_logs_max_age")
    for run_id in kept:
        marks.add(runs[run_id].keys)
    doomed_records: dict[str, int] = {}
    rescued: list[str] = []

    def root(key: str, run_id: str) -> None:
        data = datastore.get_record(key)
        if not data:
            return
        marks.add(keys_in(data))
        if run_id and b'"reused_from"' in data:
            for origin in _REUSED_FROM.findall(data):
                origin_id = origin.decode()
                if origin_id in runs and origin_id not in kept:
                    kept[origin_id] = f"its result is reused by run {run_id}"
                    rescued.append(origin_id)

    for key, size, _mtime in datastore.scan(""):
        parts = key.split("/")
        if parts[0] == "runs" and len(parts) > 2:
            run_id = parts[1]
            if run_id in runs and run_id not in kept:
                doomed_records[run_id] = doomed_records.get(run_id, 0) + 1
                continue
            root(key, run_id)  # kept, or not in the metadata store yet: a root
        elif parts[0] in LOG_PREFIXES:
            if log_age is not None and _older_partition(key, now - log_age):
                report.logs_deleted += 1
                report.log_bytes_reclaimed += size
                if not dry_run:
                    datastore.delete_record(key)
        elif key.endswith(".json"):  # deployments, experiments, schedules, plugins' records
            root(key, "")
    while rescued:  # runs kept because a kept run reused their results: theirs count too
        run_id = rescued.pop()
        marks.add(runs[run_id].keys)
        doomed_records.pop(run_id, None)
        for key, _size, _mtime in datastore.scan(f"runs/{run_id}"):
            root(key, run_id)
    return doomed_records


def _older_partition(key: str, before: float) -> bool:
    """Whether a prediction-log part's ``date=YYYY-MM-DD`` partition ended before
    ``before`` (a part without one is kept)."""
    match = _PARTITION_DATE.search(key)
    if match is None:
        return False
    day = dt.datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=dt.UTC)
    return (day + dt.timedelta(days=1)).timestamp() <= before


def delete_run_records(stack: Stack, run_ids: list[str]) -> int:
    """Delete these runs: their datastore records, then their metadata records (so an
    interrupted deletion leaves a run that is listed and deleted again next time, never
    records nobody lists). Returns the number of datastore records deleted."""
    datastore = stack.datastore
    deleted = 0
    for start in range(0, len(run_ids), _PAGE):
        chunk = run_ids[start : start + _PAGE]
        for run_id in chunk:
            for key, _size, _mtime in datastore.scan(f"runs/{run_id}"):
                if datastore.delete_record(key):
                    deleted += 1
        stack.metadata.delete_runs(chunk)
    return deleted


def _delete_runs(stack: Stack, run_ids: list[str], report: GcReport) -> None:
    report.records_deleted += delete_run_records(stack, run_ids)


def _sweep(datastore: Any, marks: MarkSet, report: GcReport, *, cutoff: float,
           dry_run: bool) -> None:
    page: list[tuple[str, int]] = []

    def settle() -> None:
        keep = marks.marked([key for key, _ in page])
        for key, size in page:
            if key in keep:
                continue
            freed = size if dry_run else datastore.delete_blob(key, older_than=cutoff)
            if freed is not None:
                report.objects_deleted += 1
                report.bytes_reclaimed += int(freed)
        page.clear()

    young: list[str] = []
    for key, size, mtime in datastore.scan("objects"):
        name = key.rsplit("/", 1)[-1]
        if not is_object_key(name):
            continue
        report.objects_scanned += 1
        if mtime >= cutoff:
            young.append(name)
            if len(young) >= _PAGE:
                report.objects_in_grace += len(young) - len(marks.marked(young))
                young.clear()
            continue
        page.append((name, size))
        if len(page) >= _PAGE:
            settle()
    settle()
    if young:
        report.objects_in_grace += len(young) - len(marks.marked(young))


def _old_reports(stack: Stack, max_age: float | None, *, now: float, dry_run: bool) -> int:
    """Delete monitoring HTML reports (``.lamina/reports/``) older than ``max_age``."""
    if max_age is None:
        return 0
    folder = Path(stack.project_root) / ".lamina" / "reports"
    removed = 0
    for path in folder.glob("*.html") if folder.is_dir() else ():
        try:
            if path.stat().st_mtime < now - max_age:
                if not dry_run:
                    path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed

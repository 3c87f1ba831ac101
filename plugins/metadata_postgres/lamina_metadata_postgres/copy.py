"""Copy runs between two metadata stores (``lamina metadata copy --from A --to B``).

Only the :class:`lamina.sdk.MetadataStore` contract is used, so any store can be the
source or the target: typically a laptop's SQLite file into the team's PostgreSQL.
Run ids, timings, statuses, tags and task records are kept as they are.

Idempotent: a run the target has finished is only given the tags it lacks; a run the
target has but not finished (a copy taken while it ran, or one cut short) gets its tasks
upserted and is finished as the source finished it; a run still running in the source is
copied open and completed by a later copy.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from lamina.sdk import MetadataStore, RunNotFoundError, RunRecord

_BATCH = 2000


@attrs.frozen
class CopyReport:
    """What a copy did: runs created, completed, only re-tagged or left as they were,
    and task records written."""

    created: int = 0
    completed: int = 0
    retagged: int = 0
    unchanged: int = 0
    tasks: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} runs created, {self.completed} completed, {self.retagged} "
            f"re-tagged, {self.unchanged} already there; {self.tasks} task records written"
        )


def copy_runs(
    source: MetadataStore,
    target: MetadataStore,
    *,
    flow: str | None = None,
    progress: Callable[[RunRecord], None] | None = None,
) -> CopyReport:
    """Copy every run of ``source`` (or of one ``flow``) into ``target``, oldest first.

    :param source: the store read from (never changed).
    :param target: the store written to.
    :param flow: copy only this flow's runs.
    :param progress: called with each run as it is handled.
    :return: a :class:`CopyReport`; running it again copies nothing new.
    """
    counts = {"created": 0, "completed": 0, "retagged": 0, "unchanged": 0, "tasks": 0}
    for run in reversed(source.list_runs(flow)):
        if progress is not None:
            progress(run)
        # "crashed" is how a store reads a running run whose process is gone: stored as
        # running, so that the target reads it the same way
        stored = attrs.evolve(run, status="running") if run.status == "crashed" else run
        try:
            existing: RunRecord | None = target.get_run(run.run_id)
        except RunNotFoundError:
            existing = None
        if existing is not None and existing.run_id != run.run_id:
            existing = None  # a prefix match on another run: ours is absent
        if existing is None:
            target.create_run(attrs.evolve(stored, status="running", finished_at=None,
                                           error=""))
            counts["created"] += 1
        elif existing.finished_at is not None:
            missing = [t for t in run.tags if t not in existing.tags]
            if missing:
                target.add_tags(run.run_id, missing)
                counts["retagged"] += 1
            else:
                counts["unchanged"] += 1
            continue
        elif stored.finished_at is None:
            counts["unchanged"] += 1
        else:
            counts["completed"] += 1
        tasks = source.list_tasks(run.run_id)
        for start in range(0, len(tasks), _BATCH):
            target.record_tasks(tasks[start:start + _BATCH])
        counts["tasks"] += len(tasks)
        if existing is not None:
            missing = [t for t in run.tags if t not in existing.tags]
            if missing:
                target.add_tags(run.run_id, missing)
        if stored.finished_at is not None:
            target.finish_run(run.run_id, status=stored.status,
                              finished_at=stored.finished_at, error=stored.error)
    return CopyReport(**counts)

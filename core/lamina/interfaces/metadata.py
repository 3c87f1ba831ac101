"""The versioning layer: immutable records of flows, runs, tasks, artifacts, params, tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lamina.records import RunRecord, TaskRecord


@runtime_checkable
class MetadataStore(Protocol):
    """Where runs are indexed and queried. Safe for several processes at once."""

    def create_run(self, run: RunRecord) -> None:
        """Record a new run (status ``running``). Run ids are unique; a duplicate raises."""

    def finish_run(self, run_id: str, *, status: str, finished_at: float, error: str = "") -> None:
        """Close a run. After this only tags may change
        (:class:`lamina.errors.ImmutableRunError`)."""

    def record_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Insert or update task records of a running run, in one transaction."""

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Add tags to any run, finished or not."""

    def remove_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Remove tags from any run, finished or not; a tag it does not have is ignored."""

    def get_run(self, run_id: str) -> RunRecord:
        """One run; :class:`lamina.errors.RunNotFoundError` if there is none."""

    def list_runs(
        self, flow: str | None = None, *, status: str | None = None, tag: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first."""

    def list_tasks(self, run_id: str, step: str | None = None) -> list[TaskRecord]:
        """A run's tasks ordered by step order then index."""

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        """The newest successful task with this cache key, if any."""

    def list_flows(self) -> list[str]:
        """Names of the flows that have runs."""

    def check(self) -> str:
        """Open the store and run a trivial query; a one-line summary or
        :class:`lamina.errors.BackendUnreachableError`."""

"""The versioning layer: immutable records of flows, runs, tasks, artifacts, params, tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from lamina.interfaces.model_registry import AliasChange, ModelVersion
    from lamina.records import RunRecord, TaskRecord


@runtime_checkable
class MetadataStore(Protocol):
    """Where runs are indexed and queried. Safe for several processes at once.

    Namespaces (teams): ``list_runs`` and ``list_flows`` take ``namespace=`` (None: every
    namespace), and a store lists the namespaces that have runs with
    ``list_namespaces()``. A record whose ``namespace`` is empty (written before
    namespaces) belongs to ``user:<its user>``. Both are optional for a store written
    before them: the Client then filters in Python (slower, same answers).
    """

    def create_run(self, run: RunRecord) -> None:
        """Record a new run (status ``running``). Run ids are unique; a duplicate raises."""

    def finish_run(self, run_id: str, *, status: str, finished_at: float, error: str = "") -> None:
        """Close a run. After this only tags may change
        (:class:`lamina.errors.ImmutableRunError`)."""

    def record_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Insert or update task records of a running run, in one transaction. Every field
        reads back equal, ``data_inputs`` (the task's data-source reads, a JSON list) in
        its order."""

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Add tags to any run, finished or not."""

    def remove_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Remove tags from any run, finished or not; a tag it does not have is ignored."""

    def get_run(self, run_id: str) -> RunRecord:
        """One run; :class:`lamina.errors.RunNotFoundError` if there is none."""

    def list_runs(
        self, flow: str | None = None, *, status: str | None = None, tag: str | None = None,
        limit: int | None = None, namespace: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first; ``namespace`` keeps one namespace's runs (see above)."""

    def list_tasks(self, run_id: str, step: str | None = None) -> list[TaskRecord]:
        """A run's tasks ordered by step order then index."""

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        """The newest successful task with this cache key, if any."""

    def list_flows(self, *, namespace: str | None = None) -> list[str]:
        """Names of the flows that have runs (in ``namespace``, if given), sorted."""

    # --- the model registry's records (see lamina.registry) ---------------------------

    def register_model_version(self, version: ModelVersion) -> ModelVersion:
        """Store ``version`` as the next version of ``(version.namespace, version.name)``:
        its ``version`` field is ignored and the number allocated here, atomically (two
        processes registering at once get 1 and 2, never the same). Returns it numbered."""

    def list_model_versions(self, namespace: str, name: str) -> list[ModelVersion]:
        """Every version of ``name`` in ``namespace``, oldest first (``aliases`` empty:
        the registry derives them from the alias history)."""

    def list_model_names(self, namespace: str) -> list[str]:
        """The names registered in ``namespace``, sorted."""

    def record_alias_change(self, namespace: str, change: AliasChange) -> AliasChange:
        """Append one alias move; ``previous`` is set here, in the same transaction, to
        the version the alias pointed at (None if none). A ``version`` that is not
        registered raises :class:`lamina.errors.ModelNotFoundError` and nothing is
        written. Returns the change as recorded."""

    def list_alias_changes(self, namespace: str, name: str) -> list[AliasChange]:
        """Every alias move of ``name`` in ``namespace``, oldest first."""

    def record_model_check(self, namespace: str, name: str, version: int,
                           result: Mapping[str, Any]) -> None:
        """Append the result of a check suite run on a version (JSON-safe: ``suite``,
        ``passed``, ``user``, ``at``, ``summary``, ``artifact``...)."""

    def list_model_checks(self, namespace: str, name: str,
                          version: int | None = None) -> list[dict[str, Any]]:
        """Check results of ``name`` (of one version, if given), oldest first, each with
        its ``version``."""

    def check(self) -> str:
        """Open the store and run a trivial query; a one-line summary or
        :class:`lamina.errors.BackendUnreachableError`."""


# -- retention (lamina gc, lamina runs --delete) ---------------------------------------------


@runtime_checkable
class CollectableMetadataStore(Protocol):
    """What retention needs of a metadata store beyond :class:`MetadataStore`; a store
    without these methods is read, never collected (``lamina gc`` says what is missing)."""

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete these runs with their tasks and tags, in one transaction; how many were
        deleted (unknown ids are ignored)."""

    def referenced_run_ids(self) -> list[str]:
        """Ids of the runs that something recorded in this store needs (registered model
        versions), distinct and sorted."""

    def runs_reusing(self, run_id: str) -> list[str]:
        """Ids of the other runs with a task that reused a result of ``run_id`` (the
        task's ``reused_from`` names one of its tasks), sorted."""

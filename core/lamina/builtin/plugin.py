"""The builtin plugin: offers the embedded default components through the public hooks.

This module is imported on every ``lamina`` invocation, so it holds only the option
classes; each factory imports its implementation when a stack actually builds it.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class FileDatastoreOptions:
    """Options of the ``file`` datastore: any fsspec URL; a local folder by default.

    :param url: where objects and run records live. A relative path is relative to the
        project root (the folder holding the config file). ``memory://`` and any fsspec
        protocol whose package is installed work too.
    :param verify_reads: re-hash every object when it is read, so a truncated or altered
        object is detected instead of returning a wrong value.
    """

    url: str = ".lamina"
    verify_reads: bool = True


@attrs.frozen
class SqliteMetadataOptions:
    """Options of the ``sqlite`` metadata store.

    :param path: the database file; relative paths are relative to the project root.
    :param busy_timeout: seconds to wait on a lock held by another process.
    """

    path: str = ".lamina/metadata.db"
    busy_timeout: float = attrs.field(default=30.0, validator=_positive)


#: How the local compute may start its workers (``multiprocessing`` start methods).
START_METHODS = ("fork", "forkserver", "spawn")
#: Environment variable giving the start method when the stack does not set one.
START_METHOD_ENV = "LAMINA_START_METHOD"


@attrs.frozen
class LocalComputeOptions:
    """Options of the ``local`` compute: a pool of long-lived worker processes.

    :param workers: how many worker processes; defaults to the number of CPUs.
    :param max_tasks_per_worker: recycle a worker after this many tasks (None: never),
        a guard against steps that leak memory.
    :param start_method: how workers start: ``fork`` (a copy of the running process;
        Linux and macOS), ``spawn`` (a fresh interpreter that imports the flow; every
        platform) or ``forkserver`` (forked from a clean server process; Linux, macOS).
        None: ``$LAMINA_START_METHOD``, else ``fork`` on Linux and ``spawn`` on macOS and
        Windows.
    """

    workers: int | None = attrs.field(default=None, validator=_positive)
    max_tasks_per_worker: int | None = attrs.field(default=None, validator=_positive)
    start_method: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(START_METHODS))
    )

    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@attrs.frozen
class LocalOrchestratorOptions:
    """Options of the ``local`` orchestrator (the in-process scheduler).

    :param fail_fast: after a task fails, start no new tasks (running ones finish). With
        False, every task that does not depend on the failure still runs.
    :param progress: ``auto`` (a live display on a terminal, quiet otherwise), ``on``,
        ``off``.
    """

    fail_fast: bool = True
    progress: str = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "on", "off"))
    )


def _file_datastore(options: FileDatastoreOptions, stack: Any) -> Any:
    from lamina.builtin.file_datastore import FileDatastore

    return FileDatastore(stack.resolve_path(options.url), verify_reads=options.verify_reads)


def _sqlite_metadata(options: SqliteMetadataOptions, stack: Any) -> Any:
    from lamina.builtin.sqlite_metadata import SqliteMetadataStore

    return SqliteMetadataStore(stack.resolve_path(options.path), busy_timeout=options.busy_timeout)


def _local_compute(options: LocalComputeOptions, stack: Any) -> Any:
    from lamina.builtin.local_compute import LocalCompute

    return LocalCompute(options)


def _local_orchestrator(options: LocalOrchestratorOptions, stack: Any) -> Any:
    from lamina.builtin.local_orchestrator import LocalOrchestrator

    return LocalOrchestrator(options)


@hookimpl
def lamina_datastores() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="datastore",
            name="file",
            config=FileDatastoreOptions,
            factory=_file_datastore,
            description="content-addressed objects in a folder (or any fsspec URL)",
            url_schemes=("file", "memory", "local"),
        )
    ]


@hookimpl
def lamina_metadata_stores() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="metadata",
            name="sqlite",
            config=SqliteMetadataOptions,
            factory=_sqlite_metadata,
            description="runs, tasks and tags in one SQLite file (WAL mode)",
        )
    ]


@attrs.frozen
class RegistryOptions:
    """Options of the ``builtin`` model registry (its records live in the metadata store).

    :param require_checks: refuse to promote or deploy a version that has no passing check
        suite result (``lamina model check``), not only one whose checks failed;
        ``--force`` still overrides, recorded as forced.
    """

    require_checks: bool = False


def _builtin_registry(options: RegistryOptions, stack: Any) -> Any:
    from lamina.builtin.registry import MetadataModelRegistry

    return MetadataModelRegistry(stack.metadata, stack.branch.namespace, stack.branch.user)


@hookimpl
def lamina_model_registries() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="registry",
            name="builtin",
            config=RegistryOptions,
            factory=_builtin_registry,
            description="model versions, aliases and check results in the stack's "
            "metadata store (per namespace)",
        )
    ]


@hookimpl
def lamina_compute_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="compute",
            name="local",
            config=LocalComputeOptions,
            factory=_local_compute,
            description="a pool of long-lived worker processes on this machine",
        )
    ]


@hookimpl
def lamina_orchestrators() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="orchestrator",
            name="local",
            config=LocalOrchestratorOptions,
            factory=_local_orchestrator,
            description="the in-process scheduler: runs the DAG on the stack's compute",
        )
    ]


@hookimpl
def lamina_serializers() -> list[Any]:
    from lamina.datastore.serializers import builtin_serializers

    return builtin_serializers()


@hookimpl
def lamina_retention_keep(stack: Any) -> list[str]:
    """The builtin keepers (registered model versions, serving deployments, flow
    deployments, feature materializations): :mod:`lamina.retention.keepers`."""
    from lamina.retention.keepers import keep_reasons

    return list(keep_reasons(stack))

"""Offers the ``dask`` compute component through lamina's public hooks.

Imported on every ``lamina`` invocation (entry points are loaded to list components), so it
holds only the options class; dask itself is imported when a stack builds the component.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import ComponentSpec, hookimpl


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _address(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value and "://" not in value:
        raise ValueError(
            f"address must be a Dask scheduler URL such as 'tcp://scheduler:8786', got "
            f"{value!r}; leave it empty to start a LocalCluster"
        )


_LAMINA_RESOURCES = ("cpu", "memory", "gpu")


def _resource_map(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    unknown = sorted(set(value) - set(_LAMINA_RESOURCES))
    if unknown:
        raise ValueError(
            f"resources maps lamina resources ({', '.join(_LAMINA_RESOURCES)}) to Dask worker "
            f"resource names; {', '.join(unknown)} is not one of them"
        )


@attrs.frozen
class DaskComputeOptions:
    """Options of the ``dask`` compute: each task is a Dask future.

    :param address: the scheduler of an existing cluster (``tcp://host:8786``). Empty:
        start a ``LocalCluster`` of worker processes for each run and close it after.
    :param n_workers: worker processes of the LocalCluster (ignored with ``address``).
    :param threads_per_worker: threads per LocalCluster worker: each thread runs one
        lamina task (task state lives in contextvars, so tasks in one process keep their
        own prints and metrics); pure-Python steps gain little from more than one.
    :param max_in_flight: at most this many tasks are Dask futures at once; the rest wait
        in lamina, so a 20,000-task foreach does not flood a shared scheduler.
    :param batch_size: tasks submitted to the scheduler in one ``client.map`` call.
    :param connect_timeout: seconds to wait for the scheduler before giving up.
    :param resources: which of a step's ``resources=`` become Dask worker resources, and
        under what name (``{"gpu": "GPU", "memory": "MEMORY"}``: a step with ``gpu=1`` runs
        only on workers started with ``--resources "GPU=1"``; memory is in MiB). Add
        ``cpu = "CPU"`` to schedule by cores too.
    :param wait_for_resources: when no connected worker offers what a task asks for,
        wait for one to join (an adaptive cluster) instead of failing the task at once.
    :param stop_timed_out: restart the worker process (through its nanny) that runs a task
        past its timeout, so it stops; without a nanny the task can only be abandoned.
    :param check_datastore: at the start of a run, make sure every worker can read the
        run's datastore, and fail early with the worker's address if one cannot.
    """

    address: str = attrs.field(default="", validator=_address)
    n_workers: int = attrs.field(default=2, validator=_positive)
    threads_per_worker: int = attrs.field(default=1, validator=_positive)
    max_in_flight: int = attrs.field(default=1000, validator=_positive)
    batch_size: int = attrs.field(default=500, validator=_positive)
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    resources: dict[str, str] = attrs.field(
        factory=lambda: {"gpu": "GPU", "memory": "MEMORY"}, validator=_resource_map
    )
    wait_for_resources: bool = False
    stop_timed_out: bool = True
    check_datastore: bool = True


def _dask_compute(options: DaskComputeOptions, stack: Any) -> Any:
    from lamina_compute_dask.compute import DaskCompute

    return DaskCompute(options)


@hookimpl
def lamina_compute_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="compute",
            name="dask",
            config=DaskComputeOptions,
            factory=_dask_compute,
            description="each task a Dask future, on a Dask cluster or a LocalCluster",
            install_hint="pip install lamina-compute-dask",
        )
    ]


@hookimpl
def lamina_validate_stack(stack: Any) -> list[str]:
    """Dask workers are other processes: a datastore only this process sees cannot work."""
    if not stack.has("compute") or stack.spec("compute").name != "dask":
        return []
    url = str(getattr(stack.options("datastore"), "url", "") or "")
    if url.startswith("memory://"):
        return [
            f"stack {stack.name!r}: compute 'dask' runs tasks in other processes, but the "
            f"datastore {url!r} lives in this process's memory; use a folder every worker "
            "can read (datastore = \"file:///shared/path\") or S3"
        ]
    return []

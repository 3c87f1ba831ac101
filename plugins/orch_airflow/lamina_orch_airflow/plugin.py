"""Registers the ``airflow`` orchestrator. Imported on every ``lamina`` invocation, so it
holds only the options class; the orchestrator is imported when a stack builds it."""

from __future__ import annotations

import re
from typing import Any

import attrs

from lamina.sdk import ComponentSpec, hookimpl

_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]*$")


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _dag_id_prefix(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _DAG_ID.match(value):
        raise ValueError(
            f"dag_id_prefix {value!r} may hold only letters, digits, '_', '.' and '-'"
        )


@attrs.frozen
class AirflowOptions:
    """Options of the ``airflow`` orchestrator.

    :param dags_folder: where ``lamina deploy`` writes DAG files (Airflow's
        ``[core] dags_folder``); it must exist. Relative to the project root.
    :param schedule: the DAG's schedule (a cron expression, ``@daily``...) for flows that
        set no ``schedule=`` of their own; None: runs only when triggered.
    :param dag_id_prefix: put before the flow's name to make the DAG id.
    :param python: the interpreter the tasks run ``-m lamina`` with, on the Airflow
        workers; it needs lamina and the flow's packages, Airflow does not.
    :param config_file: the lamina config file as the workers see it (default: the
        deploying config file's absolute path).
    :param retries: Airflow retries of a step that sets no ``retries`` of its own.
    :param retry_delay: seconds between Airflow retries.
    :param tags: Airflow tags of the DAG (``lamina`` is always added).
    :param pool: the Airflow pool every task runs in (None: Airflow's default pool); a
        step's ``resources.cpu`` becomes its ``pool_slots``.
    :param max_active_tasks: at most this many of the DAG's tasks at once (None:
        Airflow's default).
    :param airflow_python: the python of Airflow's own environment; when set, ``lamina
        deploy`` imports the generated DAG file with it before writing it, so a missing
        Airflow (or provider) is reported at deploy time instead of in Airflow's UI.
    :param ignore_resources: with local (Bash) tasks, Airflow cannot reserve memory or
        GPUs; True deploys such steps anyway instead of refusing.
    """

    dags_folder: str = ""
    schedule: str | None = None
    dag_id_prefix: str = attrs.field(default="lamina_", validator=_dag_id_prefix)
    python: str = "python3"
    config_file: str = ""
    retries: int = attrs.field(default=0, validator=_non_negative)
    retry_delay: float = attrs.field(default=30.0, validator=_non_negative)
    tags: tuple[str, ...] = ()
    pool: str | None = None
    max_active_tasks: int | None = attrs.field(default=None, validator=_non_negative)
    ignore_resources: bool = False
    airflow_python: str | None = None


def _airflow(options: AirflowOptions, stack: Any) -> Any:
    from lamina_orch_airflow.orchestrator import AirflowOrchestrator

    return AirflowOrchestrator(options, stack)


@hookimpl
def lamina_orchestrators() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="orchestrator",
            name="airflow",
            config=AirflowOptions,
            factory=_airflow,
            description="compiles flows into Apache Airflow 3 DAGs (`lamina deploy`)",
            install_hint="pip install lamina-orch-airflow",
        )
    ]


@hookimpl
def lamina_validate_stack(stack: Any) -> list[str]:
    if not stack.has("orchestrator") or stack.spec("orchestrator").name != "airflow":
        return []
    problems = []
    url = str(getattr(stack.options("datastore"), "url", ""))
    if url.startswith("memory://"):
        problems.append(
            f"stack {stack.name!r}: the airflow orchestrator runs tasks in other processes, "
            f"which cannot see the in-memory datastore {url!r}; use a folder or s3:// URL"
        )
    return problems

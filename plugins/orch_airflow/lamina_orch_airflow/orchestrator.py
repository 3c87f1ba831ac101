"""The ``airflow`` orchestrator: ``deploy`` writes a DAG file; ``run`` runs here."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.sdk import BackendUnreachableError, LaminaError, datastore_spec, record_stack
from lamina_orch_airflow.mapping import dag_id_for, step_tasks
from lamina_orch_airflow.render import DagSettings, PodSettings, render_bash, render_pods
from lamina_orch_airflow.triggers import event_mapping, flow_asset, schedule_source

if TYPE_CHECKING:
    from lamina.sdk import DeploymentPlan, RunRecord
    from lamina_orch_airflow.plugin import AirflowOptions

#: The compute component whose stacks get KubernetesPodOperator tasks.
KUBERNETES_COMPUTE = "k8s"


class AirflowOrchestrator:
    """Compiles a flow into an Airflow 3 DAG file (``lamina deploy``).

    ``lamina run`` on a stack with this orchestrator runs the flow here, with the
    in-process scheduler, on the same datastore and metadata store: that is how a failed
    Airflow run is reproduced on a laptop (``lamina resume RUN``).
    """

    def __init__(self, options: AirflowOptions, stack: Any = None) -> None:
        self.options = options
        self._stack = stack

    # -- Orchestrator protocol -------------------------------------------------------------

    def run(self, plan: Any, stack: Any) -> RunRecord:
        from lamina.sdk import Scheduler

        return Scheduler(plan).run()

    def deploy(self, plan: DeploymentPlan, stack: Any, *, dry_run: bool = False) -> str:
        text = self.render(plan, stack)
        if dry_run:
            return text
        folder = self._dags_folder(stack)
        if self.options.airflow_python:
            from lamina_orch_airflow.validate import check_with_airflow

            check_with_airflow(text, self.options.airflow_python, self.dag_id(plan.flow.name))
        target = folder / f"{self.dag_id(plan.flow.name)}.py"
        fd, staged = tempfile.mkstemp(dir=folder, prefix=".lamina-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(staged, target)  # Airflow never parses a half-written file
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        return str(target)

    def check(self) -> str:
        folder = self._dags_folder(self._stack)
        airflow = shutil.which("airflow")
        where = f"airflow CLI at {airflow}" if airflow else "no airflow CLI on PATH here"
        return f"airflow: DAGs go to {folder} ({where})"

    # -- the DAG --------------------------------------------------------------------------

    def dag_id(self, flow: str) -> str:
        return dag_id_for(self.options.dag_id_prefix, flow)

    def render(self, plan: DeploymentPlan, stack: Any) -> str:
        """The DAG file's text for ``plan`` on ``stack``."""
        compute = stack.spec("compute").name
        on_kubernetes = compute == KUBERNETES_COMPUTE
        tasks = step_tasks(plan, self.options, compute=compute, on_kubernetes=on_kubernetes)
        config_file = self.options.config_file or plan.config_file
        if not config_file:
            raise LaminaError(
                f"stack {plan.stack_name!r} has no config file, but the DAG's tasks load the "
                "stack from one",
                hint="define the stack in lamina.toml (or set config_file in the orchestrator "
                "options to the file the Airflow workers read)",
            )
        settings = DagSettings(
            dag_id=self.dag_id(plan.flow.name),
            flow=plan.flow.name,
            flow_file=plan.flow_file,
            deployment_id=plan.deployment_id,
            code_hash=plan.code_hash,
            stack=plan.stack_name,
            datastore_url=plan.datastore_url,
            datastore_spec=datastore_spec(record_stack(stack)),
            config_file=config_file,
            python=_pod_python(stack) if on_kubernetes else self.options.python,
            schedule=self.options.schedule,
            tags=tuple(self.options.tags),
            retry_delay=self.options.retry_delay,
            pool=self.options.pool,
            max_active_tasks=self.options.max_active_tasks,
            deployed_at=dt.datetime.now(dt.UTC),
            pods=_pod_settings(stack) if on_kubernetes else None,
            **_trigger_settings(plan, stack, self.options.schedule),
        )
        if on_kubernetes:
            return render_pods(settings, tasks, plan, self.options.retries)
        return render_bash(settings, tasks, plan, self.options.retries)

    def _dags_folder(self, stack: Any) -> Path:
        raw = self.options.dags_folder
        if not raw:
            raise LaminaError(
                "the airflow orchestrator has no dags_folder: lamina does not know where "
                "Airflow reads DAG files",
                hint='set dags_folder = "/path/to/airflow/dags" in the stack\'s orchestrator '
                "table (Airflow's [core] dags_folder)",
            )
        folder = Path(stack.resolve_path(raw) if stack is not None else raw).expanduser()
        if not folder.is_dir():
            raise BackendUnreachableError(
                f"the Airflow dags folder {folder} does not exist",
                hint="create it, or point dags_folder at Airflow's [core] dags_folder "
                "(`airflow config get-value core dags_folder`)",
            )
        return folder


def _trigger_settings(plan: Any, stack: Any, default: str | None) -> dict[str, Any]:
    """The DAG's schedule source, finish asset and event mapping (see triggers.py)."""
    branch = getattr(stack, "branch", None)

    def qualify(flow: str) -> str:
        return branch.qualify(flow) if branch is not None else flow

    triggers = plan.flow.triggers
    return {
        "schedule_source": schedule_source(triggers, default, qualify),
        "finish_asset": flow_asset(qualify(plan.flow.name)),
        "events": event_mapping(triggers, list(plan.params)),
    }


def _pod_python(stack: Any) -> str:
    return getattr(stack.options("compute"), "python", "") or "python"


def _pod_settings(stack: Any) -> PodSettings:
    options = stack.options("compute")
    image = getattr(options, "image", "") or ""
    if not image:
        raise LaminaError(
            f"stack {stack.name!r}: the k8s compute has no image, so the DAG's pods would "
            "have nothing to run",
            hint="set image = \"registry/ml:TAG\" (an image with lamina and the flow's "
            "packages) in the stack's compute table",
        )
    return PodSettings(
        namespace=getattr(options, "namespace", "") or "default",
        image=image,
        service_account=getattr(options, "service_account", "") or "",
        image_pull_policy=getattr(options, "image_pull_policy", "") or "",
        gpu_resource=getattr(options, "gpu_resource", "") or "nvidia.com/gpu",
    )

"""The ``airflow`` orchestrator: ``deploy`` writes a DAG file; ``run`` runs here."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.sdk import (
    BackendUnreachableError,
    LaminaError,
    PodCompute,
    Resources,
    datastore_spec,
    get_logger,
    record_stack,
)
from lamina_orch_airflow.mapping import dag_id_for, step_tasks
from lamina_orch_airflow.render import DagSettings, PodSettings, render_bash, render_pods
from lamina_orch_airflow.triggers import event_mapping, flow_asset, schedule_source

if TYPE_CHECKING:
    from lamina.sdk import DeploymentPlan, RunRecord
    from lamina_orch_airflow.plugin import AirflowOptions

log = get_logger("lamina.orchestrator.airflow")

#: The compute component whose stacks get KubernetesPodOperator tasks.
KUBERNETES_COMPUTE = "k8s"


class AirflowOrchestrator:
    """Compiles a flow into an Airflow 3 DAG file (``lamina deploy``).

    ``lamina run`` on a stack with this orchestrator runs the flow here, with the
    in-process scheduler, on the same datastore and metadata store: that is how a failed
    Airflow run is reproduced on a laptop (``lamina resume RUN``).
    """

    #: ``run`` drives the in-process scheduler: such runs are recorded as local ones.
    runs_as = "local"

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
            self._warn_if_stale(plan, stack)
            return text
        folder = self._dags_folder(stack)
        if self.options.airflow_python:
            from lamina_orch_airflow.validate import check_with_airflow

            check_with_airflow(text, self.options.airflow_python, self.dag_id(plan.flow.name, stack))
        target = folder / f"{self.dag_id(plan.flow.name, stack)}.py"
        fd, staged = tempfile.mkstemp(dir=folder, prefix=".lamina-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(staged, target)  # Airflow never parses a half-written file
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        return str(target)

    def deployed_snapshot(self, plan: DeploymentPlan, stack: Any) -> str:
        """The deployment id (code snapshot) of the DAG file in the dags folder now, or ""
        when there is none."""
        raw = self.options.dags_folder
        if not raw:
            return ""
        folder = Path(stack.resolve_path(raw) if stack is not None else raw).expanduser()
        target = folder / f"{self.dag_id(plan.flow.name)}.py"
        if not target.is_file():
            return ""
        found = re.search(r"^DEPLOYMENT = '([^']*)'", target.read_text(), re.MULTILINE)
        return found.group(1) if found else ""

    def _warn_if_stale(self, plan: DeploymentPlan, stack: Any) -> None:
        deployed = self.deployed_snapshot(plan, stack)
        if deployed and deployed != plan.deployment_id:
            log.warning(
                f"the DAG {self.dag_id(plan.flow.name)} in the dags folder runs code snapshot "
                f"{deployed}; the flow here is snapshot {plan.deployment_id}: runs keep "
                "executing the old code until you deploy without --dry-run"
            )

    def check(self) -> str:
        folder = self._dags_folder(self._stack)
        airflow = shutil.which("airflow")
        where = f"airflow CLI at {airflow}" if airflow else "no airflow CLI on PATH here"
        return f"airflow: DAGs go to {folder} ({where})"

    # -- the DAG --------------------------------------------------------------------------

    def dag_id(self, flow: str, stack: Any = None) -> str:
        """The DAG id of ``flow``: the prefix and the flow's name qualified by the stack's
        branch (``churn.alice.movies``; the bare name without a project), so the same flow
        deployed from several branches gives one DAG each."""
        branch = getattr(stack, "branch", None)
        name = branch.qualify(flow, ".") if branch is not None else flow
        return dag_id_for(self.options.dag_id_prefix, name)

    def render(self, plan: DeploymentPlan, stack: Any) -> str:
        """The DAG file's text for ``plan`` on ``stack``."""
        compute = stack.spec("compute").name
        on_kubernetes = compute == KUBERNETES_COMPUTE
        tasks = step_tasks(plan, self.options, compute=compute, on_kubernetes=on_kubernetes)
        config_file = self.options.config_file or plan.config_file
        if on_kubernetes:
            refuse_laptop_stores(stack)
            config_file = ""  # pods rebuild the deployment's recorded stack instead
        elif not config_file:
            raise LaminaError(
                f"stack {plan.stack_name!r} has no config file, but the DAG's tasks load the "
                "stack from one",
                hint="define the stack in lamina.toml (or set config_file in the orchestrator "
                "options to the file the Airflow workers read)",
            )
        settings = DagSettings(
            dag_id=self.dag_id(plan.flow.name, stack),
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
            tags=(*self.options.tags, *_branch_tags(plan.deployed)),
            deployed_by=str(plan.deployed.get("deployed_by", "")),
            branch=_branch_text(plan.deployed),
            retry_delay=self.options.retry_delay,
            pool=self.options.pool,
            max_active_tasks=self.options.max_active_tasks,
            deployed_at=dt.datetime.now(dt.UTC),
            pods=_pod_settings(stack, tasks) if on_kubernetes else None,
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


def _branch_tags(stamp: Any) -> tuple[str, ...]:
    """Airflow tags saying which project branch a DAG belongs to (none without one)."""
    if not stamp.get("project"):
        return ()
    tags = [f"project:{stamp['project']}", f"branch:{stamp.get('branch', '')}"]
    if stamp.get("production"):
        tags.append("production")
    return tuple(tags)


def _branch_text(stamp: Any) -> str:
    if not stamp.get("project"):
        return ""
    kind = "production branch" if stamp.get("production") else "branch"
    return f"{kind} {stamp.get('branch', '')} of project {stamp['project']}"


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


def refuse_laptop_stores(stack: Any) -> None:
    """Pods cannot see this machine's disk: a stack whose metadata store or datastore is a
    local file (the embedded SQLite store, a ``file://`` folder) is refused at deploy,
    rather than handing the pods a path that does not exist where they run."""
    record = record_stack(stack)["components"]
    metadata = record.get("metadata", {})
    if metadata.get("component", "sqlite") == "sqlite":
        raise LaminaError(
            f"stack {stack.name!r} keeps its runs in a SQLite file on this machine, which the "
            "Kubernetes pods of an Airflow DAG cannot reach (they start, record and close "
            "each run)",
            hint='use a shared metadata store: metadata = { plugin = "postgres", url = '
            '"postgresql://USER@HOST/DB" } (see docs/production.md)',
        )
    if stack.datastore.url.startswith("file://") or "://" not in stack.datastore.url:
        raise LaminaError(
            f"stack {stack.name!r} stores artifacts in {stack.datastore.url}, a folder on this "
            "machine that the Kubernetes pods of an Airflow DAG cannot reach",
            hint='use a shared datastore: datastore = { plugin = "s3", url = '
            '"s3://BUCKET/lamina" } (see docs/production.md)',
        )


def _pod_settings(stack: Any, tasks: list[Any]) -> PodSettings:
    compute = stack.compute
    options = stack.options("compute")
    if not isinstance(compute, PodCompute):
        raise LaminaError(
            f"stack {stack.name!r}: its compute {stack.spec('compute').name!r} does not "
            "render Kubernetes pods",
            hint="use the k8s compute (pip install lamina-compute-k8s)",
        )
    image = getattr(options, "image", "") or ""
    if not image:
        raise LaminaError(
            f"stack {stack.name!r}: the k8s compute has no image, so the DAG's pods would "
            "have nothing to run",
            hint="set image = \"registry/ml:TAG\" (an image with lamina and the flow's "
            "packages) in the stack's compute table",
        )
    template = compute.pod_manifest(name="lamina-task")
    template["metadata"].pop("name", None)  # each pod gets Airflow's own name
    resources = {}
    for t in tasks:
        pod = compute.pod_manifest(name="x", resources=Resources(cpu=t.cpu, memory=t.memory,
                                                                  gpu=t.gpu))
        resources[t.name] = pod["spec"]["containers"][0].get("resources", {})
    return PodSettings(
        namespace=template["metadata"].get("namespace") or "default",
        image=image,
        template=template,
        resources=resources,
    )

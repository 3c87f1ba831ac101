"""Ship a flow (or a deployment spec) to the stack's production engine.

::

    from lamina.deploy import deploy

    deploy("flows/churn.py", stack="prod")                # a DAG in Airflow's dags folder
    print(deploy("flows/churn.py", stack="prod", dry_run=True))   # the DAG file, unwritten

A flow file goes to the stack's orchestrator, which compiles a :class:`DeploymentPlan`
into its engine's format. The plan pins the code: the flow file and the local modules it
imports are uploaded to the stack's datastore at deploy time, and every run the engine
starts executes that snapshot, not whatever is on disk later. Any other target is a
serving deployment spec, handed to the serving layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.flow.flow import Flow
    from lamina.flow.graph import FlowGraph, FlowParam
    from lamina.stack import Stack

#: Where a deployed code snapshot is recorded in the datastore (beside runs/).
DEPLOYMENTS_PREFIX = "deployments"


def deployment_record_key(flow: str, deployment_id: str) -> str:
    return f"{DEPLOYMENTS_PREFIX}/{flow}/{deployment_id}.json"


@attrs.frozen
class DeploymentPlan:
    """A flow ready to be compiled for an engine: its validated graph, the code snapshot
    that runs will execute, and the stack it was deployed with.

    :param flow: the flow (steps and their options).
    :param graph: the validated DAG (required parameters hold ``None`` placeholders).
    :param deployment_id: names the code snapshot; ``python -m lamina stepwise start
        --deployment ID`` starts a run of exactly this code.
    :param code_hash: the snapshot's content hash (what ``lamina diff`` compares).
    :param code_files: relative path -> object key of every file in the snapshot.
    :param flow_file: the flow file, relative to the snapshot root.
    :param flow_path: the flow file's absolute path at deploy time (``resume`` on the
        deploying machine loads it from there).
    :param datastore_url: the stack's datastore, as the tasks must see it.
    :param config_file: the config file that defines the stack (absolute), or "".
    :param stack_name: the stack's name.
    :param deployed: who deployed, when, for which branch
        (:func:`lamina.branch_records.deployed_stamp`): ``deployed_by``, ``deployed_at``,
        ``project``, ``branch``, ``namespace``, ``production``. Runs the engine starts
        from this deployment are recorded on that branch.
    :param stack_record: the stack as a run records it (:func:`lamina.sdk.record_stack`:
        options as written, ``${VAR}`` kept, secrets left out): what an engine's own
        processes rebuild the stack from, so they never need the deploying machine's
        config file.
    """

    flow: Flow
    graph: FlowGraph
    deployment_id: str
    code_hash: str
    code_files: Mapping[str, str]
    flow_file: str
    flow_path: str
    datastore_url: str
    config_file: str
    stack_name: str
    git_commit: str = ""
    git_dirty: bool | None = None
    deployed: Mapping[str, Any] = attrs.field(factory=dict)
    stack_record: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def params(self) -> Mapping[str, FlowParam]:
        """The flow's parameters (name -> default, annotation, required)."""
        return self.graph.flow_params

    def record(self) -> dict[str, Any]:
        """The JSON record stored at :func:`deployment_record_key`."""
        return {
            "deployment_id": self.deployment_id,
            "flow": self.flow.name,
            "flow_file": self.flow_file,
            "flow_path": self.flow_path,
            "code_files": dict(self.code_files),
            "code_hash": self.code_hash,
            "stack": self.stack_name,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            **self.deployed,
            "stack_record": dict(self.stack_record),
        }


class _HashOnly:
    """Stands in for the artifact store in a dry run: keys without writing."""

    @staticmethod
    def put_bytes(data: bytes) -> str:
        from lamina.datastore.hashing import bytes_digest

        return bytes_digest(data)


def build_deployment_plan(flow: Flow, stack: Stack, *, upload: bool = True) -> DeploymentPlan:
    """Validate ``flow`` and snapshot its code for ``stack`` (uploaded to the stack's
    datastore unless ``upload`` is False, as in a dry run).

    The deployment belongs to ``stack.branch``: its id is qualified by the branch
    (``churn.alice.1a2b...``, the bare code hash without a project), so each branch keeps
    its own deployment record of the same code, stamped with who deployed it and when."""
    from lamina.config.recorded import record_stack
    from lamina.runtime.launch import flow_file_of, run_branch, snapshot_code

    placeholders = {n: None for n, p in _flow_params(flow).items() if p.required}
    graph = flow.graph(placeholders)
    flow_path = flow_file_of(flow)
    if not flow_path:
        raise LaminaError(
            f"flow '{flow.name}' was defined in a notebook or an interactive session; only a "
            "flow file can be deployed",
            hint="move the flow into a .py file and run `lamina deploy FLOW.py`",
        )
    from lamina.branch_records import deployed_stamp
    from lamina.versioning.environment import git_state

    store: Any = stack.artifacts if upload else _HashOnly()
    branch = run_branch(flow, stack)  # the flow's own project wins over the config's
    commit, dirty = git_state(os.path.dirname(flow_path))
    flow_file, code_files, code_hash = snapshot_code(flow, stack, store)
    plan = DeploymentPlan(
        flow=flow,
        graph=graph,
        deployment_id=branch.qualify(code_hash[:16], "."),
        code_hash=code_hash,
        code_files=code_files,
        flow_file=flow_file,
        flow_path=flow_path,
        datastore_url=stack.redact(stack.datastore.url),  # ${VAR} kept, never its value
        config_file=str(stack.config_file.resolve()) if stack.config_file else "",
        stack_name=stack.name,
        git_commit=commit,
        git_dirty=dirty,
        deployed=deployed_stamp(branch),
        stack_record=record_stack(stack),
    )
    if upload:
        stack.artifacts.put_json(deployment_record_key(flow.name, plan.deployment_id), plan.record())
    return plan


def _flow_params(flow: Flow) -> dict[str, FlowParam]:
    from lamina.flow.graph import flow_parameters

    return flow_parameters(flow)


def _check_can_apply(orchestrator: Any, stack: Stack) -> None:
    import inspect

    if "apply" not in inspect.signature(orchestrator.deploy).parameters:
        name = stack.spec("orchestrator").name
        raise LaminaError(
            f"the {name!r} orchestrator of stack {stack.name!r} does not submit to an API: "
            "--apply means nothing to it",
            hint="drop --apply (`lamina deploy FLOW.py` puts the flow where the engine reads it)",
        )


def is_flow_target(target: str) -> bool:
    """Whether ``target`` names a flow file (``FLOW.py``, ``FLOW.py:variable``) rather
    than a deployment spec."""
    path = target.split(":", 1)[0] if not os.path.exists(target) else target
    return path.endswith(".py")


@attrs.frozen
class Deployed:
    """What a deploy did: where the result went (a DAG file, an endpoint; with
    ``dry_run`` the text that would be deployed) and the deployment's stamp (who, when,
    which branch: :func:`lamina.branch_records.deployed_stamp`)."""

    where: str
    stamp: Mapping[str, Any]


def flow_project(flow: Flow) -> str | None:
    """The flow's own project (``Flow(..., project=)``), or None: it wins over the
    config's ``project``."""
    return getattr(flow, "project", None) or None


def _branch_for_flow(flow: Flow, stack: Stack) -> None:
    """Make ``stack.branch`` a branch of the flow's own project when the caller chose
    none of it (a stack loaded for the config's project, or without one)."""
    from lamina.namespaces import resolve_branch

    project = flow_project(flow)
    if project and stack.branch.project != project:
        stack.branch = resolve_branch(user=stack.branch.user, project=project)


def deploy_target(target: str | os.PathLike[str] | Flow, stack: Stack, *,
                  dry_run: bool = False, apply: bool = False, force: bool = False) -> Deployed:
    """:func:`deploy`, returning the deployment's stamp as well; ``target`` may be a
    :class:`lamina.Flow` already loaded. The deployment belongs to ``stack.branch``."""
    from lamina.flow.flow import Flow

    if not isinstance(target, Flow) and is_flow_target(os.fspath(target)):
        from lamina.flow.loader import load_flow_file

        target = load_flow_file(os.fspath(target))
    if isinstance(target, Flow):
        _branch_for_flow(target, stack)
        plan = build_deployment_plan(target, stack, upload=not dry_run)
        orchestrator = stack.orchestrator
        if apply and not dry_run:
            _check_can_apply(orchestrator, stack)
            return Deployed(orchestrator.deploy(plan, stack, dry_run=False, apply=True),
                            plan.deployed)
        return Deployed(orchestrator.deploy(plan, stack, dry_run=dry_run), plan.deployed)
    text = os.fspath(target)
    if not Path(text).is_file():
        raise LaminaError(
            f"deployment target {text!r} is not a file",
            hint="pass a flow file (FLOW.py) or a deployment spec (deploy.toml)",
        )
    try:
        from lamina.serving.deployment import deploy as serving_deploy
        from lamina.serving.deployment import for_branch
        from lamina.serving.spec import load_spec
    except ImportError as err:
        raise LaminaError(
            f"cannot deploy {text!r}: this lamina has no serving deployments "
            f"(lamina.serving.deployment could not be imported: {err})",
            hint="deploy a flow file (FLOW.py), or install a lamina with the serving layer",
        ) from None
    from lamina.serving.deployment import pin_models

    deployment = pin_models(for_branch(load_spec(text), stack.branch), stack, force=force)
    return Deployed(serving_deploy(deployment, stack, dry_run=dry_run), deployment.deployed)


def deploy(target: str | os.PathLike[str], *, stack: Stack | str | None = None,
           dry_run: bool = False, apply: bool = False, force: bool = False) -> str:
    """Deploy a flow file to the stack's orchestrator, or a deployment spec (any other
    file, e.g. ``deploy.toml``) to its serving layer, for the stack's branch
    (``stack.branch``: names are qualified by it, see :mod:`lamina.namespaces`).

    Returns where the result went (a DAG file's path, an endpoint), or with ``dry_run``
    the text that would be deployed, having written nothing.

    :param target: ``FLOW.py`` (``FLOW.py:variable`` when the file holds several flows)
        or a deployment spec file.
    :param stack: a :class:`lamina.Stack`, a stack name, or None for the default stack.
    :param apply: submit the compiled flow to the engine's API (Argo: the Kubernetes API)
        instead of writing it to a file; for orchestrators that take submissions.
    :param force: deploy a registered version (``model:churn@champion`` in a spec) whose
        checks failed; recorded as forced in the deployment.
    :raises lamina.errors.GateFailedError: a registered version's checks failed.
    :raises lamina.errors.LaminaError: the stack cannot deploy this (a local-only
        orchestrator, an option the engine cannot express, a missing dags folder...).
    """
    from lamina.stack import resolve_stack

    return deploy_target(target, resolve_stack(stack), dry_run=dry_run, apply=apply,
                         force=force).where


#: The run id shown in rendered submissions: a real run gets its own at start.
RENDER_RUN_ID = "RUN_ID"


def render_tasks(target: str | os.PathLike[str], *, stack: Stack | str | None = None) -> str:
    """The exact manifests or API requests the stack's compute would submit for the first
    task of each step of a flow, without reaching the backend (``lamina render``): the
    Kubernetes Jobs of the k8s compute, the AWS Batch job definitions and submissions...
    Printed as a YAML stream of JSON documents (``kubernetes-validate`` and ``kubectl``
    read it). The run id is the placeholder ``RUN_ID``; a foreach step shows its task 0
    (a real run covers its indexes in as few Jobs as ``max_in_flight`` allows).

    :raises lamina.errors.LaminaError: the stack's compute renders nothing (the local
        pool runs tasks in processes here: there is nothing to submit).
    """
    import json

    from lamina.config.recorded import datastore_spec, record_stack
    from lamina.flow.loader import load_flow_file
    from lamina.interfaces.compute import RendersTasks
    from lamina.records import TaskSpec
    from lamina.stack import resolve_stack

    resolved = resolve_stack(stack)
    compute = resolved.compute
    if not isinstance(compute, RendersTasks):
        raise LaminaError(
            f"stack {resolved.name!r}: its compute {resolved.spec('compute').name!r} runs "
            "tasks here and submits nothing to render",
            hint="render with a stack whose compute is remote (k8s, batch), e.g. "
            "`lamina render FLOW.py --stack prod`",
        )
    flow = load_flow_file(os.fspath(target))
    plan = build_deployment_plan(flow, resolved, upload=False)
    where = datastore_spec(record_stack(resolved))
    docs: list[dict[str, Any]] = []
    for name in plan.graph.order:
        opts = flow.steps[name].options
        spec = TaskSpec(
            run_id=RENDER_RUN_ID, flow=flow.name, step=name, index=0, attempt=1,
            datastore_url=plan.datastore_url, timeout=opts.timeout,
            resources=opts.resources, datastore_spec=where,
        )
        docs.extend(compute.render_tasks([spec]))
    return "\n".join(f"---\n{json.dumps(doc, indent=2)}" for doc in docs) + "\n"


def trigger(flow: str | None = None, *, params: Mapping[str, Any] | None = None,
            event: str | None = None, payload: Mapping[str, Any] | None = None,
            stack: Stack | str | None = None) -> str:
    """Start a deployed flow now, or send an event that starts the flows triggered by it.

    ``trigger("churn", params={"alpha": 0.3})`` starts an execution on the stack's
    orchestrator (Step Functions); ``trigger(event="data-ready", payload={...})`` sends
    the event (EventBridge for Step Functions; for the local orchestrator it waits in the
    datastore for ``lamina schedule run``). Returns what was started or sent.

    :raises lamina.errors.LaminaError: the orchestrator cannot start runs by itself.
    """
    from lamina.stack import resolve_stack

    resolved = resolve_stack(stack)
    orchestrator = resolved.orchestrator
    name = resolved.spec("orchestrator").name
    if event is not None:
        if hasattr(orchestrator, "send_event"):
            sent = orchestrator.send_event(event, dict(payload or {}))
            return f"sent the event {event} ({sent})"
        if name == "local":
            from lamina.runtime.schedule import send_local_event

            key = send_local_event(resolved, event, payload)
            return f"the event {event} waits for `lamina schedule run` ({key})"
        raise LaminaError(
            f"the {name!r} orchestrator of stack {resolved.name!r} "
            "does not take events from lamina",
            hint="send the event to the engine itself (Airflow: an asset event on "
            "lamina://event/NAME; Argo: a POST to the lamina EventSource)",
        )
    if not flow:
        raise LaminaError("trigger needs a flow name or an event", hint='trigger("churn")')
    if not hasattr(orchestrator, "trigger"):
        raise LaminaError(
            f"the {name!r} orchestrator of stack {resolved.name!r} does not start runs from "
            "lamina",
            hint="run it here (`lamina run FLOW.py`) or through the engine (Airflow: "
            "`airflow dags trigger DAG_ID`; Argo: `argo submit --from workflowtemplate/NAME`)",
        )
    return f"started {orchestrator.trigger(flow, resolved, dict(params or {}))}"

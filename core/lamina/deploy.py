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
        }


class _HashOnly:
    """Stands in for the artifact store in a dry run: keys without writing."""

    @staticmethod
    def put_bytes(data: bytes) -> str:
        from lamina.datastore.hashing import bytes_digest

        return bytes_digest(data)


def build_deployment_plan(flow: Flow, stack: Stack, *, upload: bool = True) -> DeploymentPlan:
    """Validate ``flow`` and snapshot its code for ``stack`` (uploaded to the stack's
    datastore unless ``upload`` is False, as in a dry run)."""
    from lamina.runtime.launch import flow_file_of, snapshot_code

    placeholders = {n: None for n, p in _flow_params(flow).items() if p.required}
    graph = flow.graph(placeholders)
    flow_path = flow_file_of(flow)
    if not flow_path:
        raise LaminaError(
            f"flow '{flow.name}' was defined in a notebook or an interactive session; only a "
            "flow file can be deployed",
            hint="move the flow into a .py file and run `lamina deploy FLOW.py`",
        )
    from lamina.versioning.environment import git_state

    store: Any = stack.artifacts if upload else _HashOnly()
    commit, dirty = git_state(os.path.dirname(flow_path))
    flow_file, code_files, code_hash = snapshot_code(flow, stack, store)
    plan = DeploymentPlan(
        flow=flow,
        graph=graph,
        deployment_id=code_hash[:16],
        code_hash=code_hash,
        code_files=code_files,
        flow_file=flow_file,
        flow_path=flow_path,
        datastore_url=stack.redact(stack.datastore.url),  # ${VAR} kept, never its value
        config_file=str(stack.config_file.resolve()) if stack.config_file else "",
        stack_name=stack.name,
        git_commit=commit,
        git_dirty=dirty,
    )
    if upload:
        stack.artifacts.put_json(deployment_record_key(flow.name, plan.deployment_id), plan.record())
    return plan


def _flow_params(flow: Flow) -> dict[str, FlowParam]:
    from lamina.flow.graph import flow_parameters

    return flow_parameters(flow)


def _is_flow_target(target: str) -> bool:
    path = target.split(":", 1)[0] if not os.path.exists(target) else target
    return path.endswith(".py")


def deploy(target: str | os.PathLike[str], *, stack: Stack | str | None = None,
           dry_run: bool = False) -> str:
    """Deploy a flow file to the stack's orchestrator, or a deployment spec (any other
    file, e.g. ``deploy.toml``) to its serving layer.

    Returns where the result went (a DAG file's path, an endpoint), or with ``dry_run``
    the text that would be deployed, having written nothing.

    :param target: ``FLOW.py`` (``FLOW.py:variable`` when the file holds several flows)
        or a deployment spec file.
    :param stack: a :class:`lamina.Stack`, a stack name, or None for the default stack.
    :raises lamina.errors.LaminaError: the stack cannot deploy this (a local-only
        orchestrator, an option the engine cannot express, a missing dags folder...).
    """
    from lamina.stack import resolve_stack

    text = os.fspath(target)
    resolved = resolve_stack(stack)
    if _is_flow_target(text):
        from lamina.flow.loader import load_flow_file

        flow = load_flow_file(text)
        plan = build_deployment_plan(flow, resolved, upload=not dry_run)
        return resolved.orchestrator.deploy(plan, resolved, dry_run=dry_run)
    if not Path(text).is_file():
        raise LaminaError(
            f"deployment target {text!r} is not a file",
            hint="pass a flow file (FLOW.py) or a deployment spec (deploy.toml)",
        )
    try:
        from lamina.serving.deployment import deploy_from_file
    except ImportError as err:
        raise LaminaError(
            f"cannot deploy {text!r}: this lamina has no serving deployments "
            f"(lamina.serving.deployment could not be imported: {err})",
            hint="deploy a flow file (FLOW.py), or install a lamina with the serving layer",
        ) from None
    return deploy_from_file(text, resolved, dry_run=dry_run)

"""The ``argo`` orchestrator: ``deploy`` compiles a flow into Argo manifests (written as
YAML, or submitted with ``--apply``); ``run`` runs here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.sdk import LaminaError, datastore_spec, record_stack
from lamina_orch_argo import manifests, schema
from lamina_orch_argo.manifests import ArgoSettings, k8s_name

if TYPE_CHECKING:
    from lamina.sdk import DeploymentPlan, RunRecord
    from lamina_orch_argo.plugin import ArgoOptions

#: Kinds a deployment may hold; the ones a flow no longer needs are deleted on --apply.
KINDS = ("WorkflowTemplate", "CronWorkflow", "Sensor")


class ArgoOrchestrator:
    """Compiles a flow into an Argo ``WorkflowTemplate`` (plus a ``CronWorkflow`` for a
    schedule and an Argo Events ``Sensor`` for its triggers).

    ``lamina run`` on a stack with this orchestrator runs the flow here with the
    in-process scheduler, on the same datastore and metadata store: that is how a failed
    Argo run is reproduced on a laptop (``lamina resume RUN``).
    """

    def __init__(self, options: ArgoOptions, stack: Any = None) -> None:
        self.options = options
        self._stack = stack

    # -- Orchestrator protocol -------------------------------------------------------------

    def run(self, plan: Any, stack: Any) -> RunRecord:
        from lamina.sdk import Scheduler

        return Scheduler(plan).run()

    def deploy(self, plan: DeploymentPlan, stack: Any, *, dry_run: bool = False,
               apply: bool = False) -> str:
        """The manifests as YAML (``dry_run``), submitted to the cluster (``apply``), or
        else written to ``argo/NAME.yaml`` in the project for ``kubectl apply -f``."""
        docs = self.manifests(plan, stack)
        text = to_yaml(docs)
        if dry_run:
            return text
        if apply:
            return self._apply(docs)
        folder = Path(stack.resolve_path("argo"))
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{docs[0]['metadata']['name']}.yaml"
        fd, staged = tempfile.mkstemp(dir=folder, prefix=".lamina-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(staged, target)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        return str(target)

    def check(self) -> str:
        where = f"namespace {self.options.namespace}"
        return f"argo: WorkflowTemplates go to {where} (image {self.options.image or 'unset'})"

    # -- the manifests ---------------------------------------------------------------------

    def template_name(self, flow: str, stack: Any) -> str:
        """The WorkflowTemplate's name: the flow's, qualified by the stack's branch."""
        return k8s_name(_qualify(stack, k8s_name(flow), "-"))

    def settings(self, plan: DeploymentPlan, stack: Any) -> ArgoSettings:
        opts = self.options
        if not opts.image:
            raise LaminaError(
                f"stack {plan.stack_name!r}: the argo orchestrator has no image, so the "
                "workflow's pods would have nothing to run",
                hint='set image = "registry/ml:TAG" (an image with lamina, its plugins and '
                "the flow's packages) in the stack's orchestrator table",
            )
        config_file = opts.config_file or plan.config_file
        if not config_file:
            raise LaminaError(
                f"stack {plan.stack_name!r} has no config file, but the workflow's pods load "
                "the stack from one",
                hint="define the stack in lamina.toml (or set config_file in the orchestrator "
                "options to the file the pods read)",
            )
        branch = getattr(stack, "branch", None)
        labels = {"app.kubernetes.io/managed-by": "lamina", "lamina.dev/flow": k8s_name(plan.flow.name)}
        if branch is not None and branch.project:
            labels["lamina.dev/project"] = k8s_name(branch.project)
            labels["lamina.dev/branch"] = k8s_name(branch.name)
        return ArgoSettings(
            name=self.template_name(plan.flow.name, stack),
            namespace=opts.namespace,
            image=opts.image,
            python=opts.python,
            service_account=opts.service_account,
            config_file=config_file,
            stack=plan.stack_name,
            datastore_spec=datastore_spec(record_stack(stack)),
            datastore_url=plan.datastore_url,
            deployment_id=plan.deployment_id,
            flow=plan.flow.name,
            qualified_flow=_qualify(stack, plan.flow.name, "."),
            labels=labels,
            image_pull_policy=opts.image_pull_policy,
            env_from_secrets=tuple(opts.env_from_secrets),
            secret_env=dict(opts.secret_env),
            gpu_resource=opts.gpu_resource,
            retry_policy=opts.retry_policy,
            timezone=opts.timezone,
            event_source=opts.event_source,
            event_name=opts.event_name,
            event_url=opts.event_url,
        )

    def manifests(self, plan: DeploymentPlan, stack: Any) -> list[dict[str, Any]]:
        """The WorkflowTemplate, then the CronWorkflow and Sensor the flow needs, each
        checked against Argo's schema."""
        settings = self.settings(plan, stack)
        upstream = {f: _qualify(stack, f, ".") for f in plan.flow.triggers.on_finish}
        docs = [manifests.workflow_template(plan, settings)]
        for extra in (manifests.cron_workflow(plan, settings),
                      manifests.sensor(plan, settings, upstream)):
            if extra is not None:
                docs.append(extra)
        for doc in docs:
            schema.check(doc)
        return docs

    def _apply(self, docs: list[dict[str, Any]]) -> str:
        from lamina_orch_argo.api import ArgoApi

        api = ArgoApi(self.options)
        try:
            done = [f"{doc['kind']} {doc['metadata']['name']} {api.apply(doc)}" for doc in docs]
            name = docs[0]["metadata"]["name"]
            present = {doc["kind"] for doc in docs}
            for kind in KINDS:
                if kind not in present and api.delete(kind, name):
                    done.append(f"{kind} {name} deleted (the flow no longer needs it)")
        finally:
            api.close()
        return f"namespace {self.options.namespace}: " + ", ".join(done)


def _qualify(stack: Any, name: str, sep: str) -> str:
    branch = getattr(stack, "branch", None)
    return branch.qualify(name, sep) if branch is not None else name


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """The manifests as one multi-document YAML text (``kubectl apply -f`` reads it)."""
    import yaml

    return "---\n".join(yaml.safe_dump(doc, sort_keys=False, width=120) for doc in docs)

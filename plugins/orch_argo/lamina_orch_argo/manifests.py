"""A flow as Argo manifests: a ``WorkflowTemplate``, a ``CronWorkflow`` when the flow has a
schedule, an Argo Events ``Sensor`` when it has triggers.

The template's DAG mirrors the flow's: ``start`` records the run (``lamina stepwise
start``), each step is ``prepare-STEP`` (writes the step's plan, outputs its task indexes)
then ``STEP`` (``python -m lamina task``, fanned out with ``withParam`` over those indexes
for a foreach), and the exit handler ``finish`` records the outcome whatever happened.
Everything here is plain dicts; nothing talks to a cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

import attrs

from lamina.sdk import LaminaError

API_VERSION = "argoproj.io/v1alpha1"
#: The one workflow parameter: the flow's parameters as a JSON object.
PARAMS = "params"
#: Where ``start`` leaves the run id, and ``prepare`` the task indexes.
RUN_FILE = "/tmp/lamina-run"
INDEXES_FILE = "/tmp/lamina-indexes.json"
#: The event that carries a run's success, and the one that carries a named event.
FINISHED = "lamina-flow-finished"
EVENT = "lamina-event"


def k8s_name(text: str, limit: int = 63) -> str:
    """``text`` as a Kubernetes object name (lower case, digits and ``-``), shortened
    with a hash suffix when it is longer than ``limit``."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "flow"
    if len(name) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: limit - 9].rstrip('-')}-{digest}"
    return name


@attrs.frozen
class ArgoSettings:
    """What the manifests pin besides the flow's steps."""

    name: str  # the WorkflowTemplate's name (qualified by project branch)
    namespace: str
    image: str
    python: str
    service_account: str
    config_file: str
    stack: str
    datastore_spec: str
    datastore_url: str
    deployment_id: str
    flow: str
    qualified_flow: str  # the flow's name qualified by branch: what on-finish events carry
    labels: Mapping[str, str]
    image_pull_policy: str | None = None
    env_from_secrets: tuple[str, ...] = ()
    secret_env: Mapping[str, str] = attrs.field(factory=dict)
    gpu_resource: str = "nvidia.com/gpu"
    retry_policy: str = "Always"
    timezone: str = "UTC"
    event_source: str = "lamina"
    event_name: str = "lamina"
    event_url: str = ""


def _where(settings: ArgoSettings) -> list[str]:
    if settings.datastore_spec:
        return ["--datastore-spec", settings.datastore_spec]
    return ["--datastore", settings.datastore_url]


def _container(settings: ArgoSettings, args: list[str], *, shell: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"image": settings.image}
    if shell:
        container["command"] = ["sh", "-c"]
        container["args"] = args
    else:
        container["command"] = [settings.python]
        container["args"] = args
    if settings.image_pull_policy:
        container["imagePullPolicy"] = settings.image_pull_policy
    if settings.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in settings.env_from_secrets]
    if settings.secret_env:
        container["env"] = [
            {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.split("/", 1)[0],
                                                         "key": ref.split("/", 1)[1]}}}
            for var, ref in sorted(settings.secret_env.items())
        ]
    return container


def _quote(args: list[str]) -> str:
    return shlex.join(args)


def _resources(step: Any, gpu_resource: str) -> dict[str, Any] | None:
    res = step.options.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cpu:
        requests["cpu"] = f"{res.cpu:g}"
    if res.memory:
        requests["memory"] = limits["memory"] = f"{res.memory}Mi"
    if res.gpu:
        limits[gpu_resource] = str(res.gpu)
    if not requests and not limits:
        return None
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _start_template(settings: ArgoSettings) -> dict[str, Any]:
    start = [
        settings.python, "-m", "lamina", "--config", settings.config_file, "--stack",
        settings.stack, "stepwise", "start", "--flow", settings.flow, "--deployment",
        settings.deployment_id, "--params", "{{workflow.parameters." + PARAMS + "}}",
        "--orchestrator", "argo", "--orchestrator-run-id", "{{workflow.namespace}}/{{workflow.name}}",
        "--tag", f"argo-template:{settings.name}", "--tag", "argo-workflow:{{workflow.name}}",
    ]
    # the last line of `stepwise start` is the run id; keep the whole output in the log
    script = f"set -e; {_quote(start)} > /tmp/lamina-start.out; cat /tmp/lamina-start.out; " \
             f"tail -n 1 /tmp/lamina-start.out > {RUN_FILE}"
    return {
        "name": "lamina-start",
        "container": _container(settings, [script], shell=True),
        "outputs": {"parameters": [{
            "name": "run", "globalName": "lamina-run", "valueFrom": {"path": RUN_FILE},
        }]},
    }


def _prepare_template(settings: ArgoSettings) -> dict[str, Any]:
    args = ["-m", "lamina", "stepwise", "prepare", *_where(settings), "--run",
            "{{inputs.parameters.run}}", "--step", "{{inputs.parameters.step}}",
            "--xcom-file", INDEXES_FILE]
    return {
        "name": "lamina-prepare",
        "inputs": {"parameters": [{"name": "run"}, {"name": "step"}]},
        "container": _container(settings, args),
        "outputs": {"parameters": [{"name": "indexes", "valueFrom": {"path": INDEXES_FILE}}]},
    }


def _step_template(settings: ArgoSettings, step: Any) -> dict[str, Any]:
    opts = step.options
    args = ["-m", "lamina", "task", *_where(settings), "--run", "{{inputs.parameters.run}}",
            "--step", step.name, "--index", "{{inputs.parameters.index}}",
            "--attempt", "{{=asInt(retries) + 1}}" if opts.retries else "1"]
    container = _container(settings, args)
    resources = _resources(step, settings.gpu_resource)
    if resources:
        container["resources"] = resources
    template: dict[str, Any] = {
        "name": f"step-{k8s_name(step.name, 50)}",
        "inputs": {"parameters": [{"name": "run"}, {"name": "index"}]},
        "metadata": {"labels": {"lamina.dev/step": k8s_name(step.name)}},
        "container": container,
    }
    if opts.retries:
        template["retryStrategy"] = {"limit": str(opts.retries), "retryPolicy": settings.retry_policy}
    if opts.timeout is not None:
        template["activeDeadlineSeconds"] = str(int(opts.timeout) or 1)
    return template


def _finish_template(settings: ArgoSettings) -> dict[str, Any]:
    args = ["-m", "lamina", "--config", settings.config_file, "--stack", settings.stack,
            "stepwise", "finish", "--run", "{{workflow.outputs.parameters.lamina-run}}"]
    return {"name": "lamina-finish", "container": _container(settings, args)}


def _announce_template(settings: ArgoSettings) -> dict[str, Any]:
    """An HTTP template (no pod): tells the EventSource that this run succeeded."""
    body = {"type": FINISHED, "flow": settings.qualified_flow,
            "run": "{{workflow.outputs.parameters.lamina-run}}", "workflow": "{{workflow.name}}"}
    return {
        "name": "lamina-announce",
        "http": {
            "url": settings.event_url, "method": "POST",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "body": json.dumps(body),
            "successCondition": "response.statusCode < 300",
        },
    }


def _exit_handler(settings: ArgoSettings) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [{"name": "finish", "template": "lamina-finish"}]
    if settings.event_url:
        tasks.append({"name": "announce", "template": "lamina-announce",
                      "depends": "finish.Succeeded"})
    return {"name": "lamina-exit", "dag": {"tasks": tasks}}


def _task_name(step: str) -> str:
    return k8s_name(step, 50)


def _dag(plan: Any) -> dict[str, Any]:
    graph, flow = plan.graph, plan.flow
    run = "{{tasks.start.outputs.parameters.run}}"
    tasks: list[dict[str, Any]] = [{"name": "start", "template": "lamina-start"}]
    for name in graph.order:
        step = flow.steps[name]
        task = _task_name(name)
        upstream = sorted(graph.upstream(name), key=graph.order.index)
        after = " && ".join(["start", *(_task_name(u) for u in upstream)])
        tasks.append({
            "name": f"prepare-{task}", "template": "lamina-prepare", "depends": after,
            "arguments": {"parameters": [{"name": "run", "value": run},
                                         {"name": "step", "value": name}]},
        })
        entry: dict[str, Any] = {
            "name": task, "template": f"step-{k8s_name(name, 50)}", "depends": f"prepare-{task}",
        }
        if step.options.foreach:
            entry["withParam"] = "{{tasks.prepare-" + task + ".outputs.parameters.indexes}}"
            index = "{{item}}"
        else:
            index = "0"
        entry["arguments"] = {"parameters": [{"name": "run", "value": run},
                                             {"name": "index", "value": index}]}
        tasks.append(entry)
    return {"name": "main", "dag": {"tasks": tasks}}


def _check_steps(plan: Any) -> None:
    seen: dict[str, str] = {}
    for name in plan.graph.order:
        step = plan.flow.steps[name]
        if step.options.cache:
            raise LaminaError(
                f"step '{name}' ({step.where}) sets cache=True, which Argo cannot honour: each "
                "workflow runs its steps, it does not look up earlier results",
                hint="drop cache=True for the deployed flow (or reproduce locally with "
                "`lamina resume`, which reuses results)",
            )
        task = _task_name(name)
        if task in seen or task in ("start", "main") or task.startswith("prepare-"):
            raise LaminaError(
                f"step '{name}' ({step.where}) becomes the Argo task name {task!r}, which "
                + (f"step '{seen[task]}' also becomes" if task in seen else "lamina uses itself"),
                hint="rename the step (Argo task names are lower case, digits and '-')",
            )
        seen[task] = name


def default_params(plan: Any) -> str:
    """The flow parameters' defaults as the JSON object the workflow parameter holds
    (required parameters are left out: a submission must give them)."""
    values = {}
    for name, fp in plan.params.items():
        if fp.required:
            continue
        try:
            values[name] = json.loads(json.dumps(fp.default))
        except (TypeError, ValueError):
            used = plan.flow.steps[fp.used_by[0]]
            raise LaminaError(
                f"flow parameter '{name}' of step '{used.name}' ({used.where}) has the default "
                f"{fp.default!r}, which an Argo workflow parameter cannot hold (JSON values only)",
                hint="give it a default that is a number, string, bool, None, list or dict",
            ) from None
    return json.dumps(values, sort_keys=True)


def _metadata(settings: ArgoSettings, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": settings.namespace, "labels": dict(settings.labels)}


def workflow_template(plan: Any, settings: ArgoSettings) -> dict[str, Any]:
    """The ``WorkflowTemplate`` of ``plan``: submit it with ``argo submit --from
    workflowtemplate/NAME -p params='{"alpha": 0.3}'``."""
    _check_steps(plan)
    templates = [_dag(plan), _start_template(settings), _prepare_template(settings)]
    templates += [_step_template(settings, plan.flow.steps[n]) for n in plan.graph.order]
    templates += [_exit_handler(settings), _finish_template(settings)]
    if settings.event_url:
        templates.append(_announce_template(settings))
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "onExit": "lamina-exit",
        "arguments": {"parameters": [{
            "name": PARAMS, "value": default_params(plan),
            "description": "the flow's parameters as a JSON object",
        }]},
        "workflowMetadata": {"labels": dict(settings.labels)},
        "templates": templates,
    }
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    metadata = _metadata(settings, settings.name)
    metadata["annotations"] = {"lamina.dev/flow": settings.flow,
                               "lamina.dev/deployment": settings.deployment_id}
    return {"apiVersion": API_VERSION, "kind": "WorkflowTemplate", "metadata": metadata,
            "spec": spec}


def cron_workflow(plan: Any, settings: ArgoSettings) -> dict[str, Any] | None:
    """The ``CronWorkflow`` that starts the template on the flow's schedule, or None."""
    schedule = plan.flow.triggers.schedule
    if not schedule:
        return None
    return {
        "apiVersion": API_VERSION, "kind": "CronWorkflow",
        "metadata": _metadata(settings, settings.name),
        "spec": {
            "schedules": [schedule],
            "timezone": settings.timezone,
            "concurrencyPolicy": "Allow",
            "workflowMetadata": {"labels": dict(settings.labels)},
            "workflowSpec": {"workflowTemplateRef": {"name": settings.name}},
        },
    }


def _submit(settings: ArgoSettings, name: str, dependency: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    source = {
        "apiVersion": API_VERSION, "kind": "Workflow",
        "metadata": {"generateName": f"{settings.name[:50]}-", "labels": dict(settings.labels)},
        "spec": {"workflowTemplateRef": {"name": settings.name},
                 "arguments": {"parameters": [{"name": PARAMS, "value": "{}"}]}},
    }
    trigger: dict[str, Any] = {"operation": "submit", "source": {"resource": source}}
    if params:
        trigger["parameters"] = params
    return {"template": {"name": name, "conditions": dependency, "argoWorkflow": trigger}}


def _payload_template(event: Any, flow_params: list[str]) -> str:
    """A Go template (Argo Events ``dataTemplate``) building the params JSON object from
    the event's payload."""
    pairs = sorted(event.params.items()) if event.params else [(p, p) for p in sorted(flow_params)]
    body = ".Input.body.payload"
    parts = [
        f'{{{{ if hasKey {body} "{field}" }}}}{{{{ $_ := set $p "{param}" '
        f'(index {body} "{field}") }}}}{{{{ end }}}}'
        for param, field in pairs
    ]
    return "{{ $p := dict }}" + "".join(parts) + "{{ toJson $p }}"


def sensor(plan: Any, settings: ArgoSettings, upstream: Mapping[str, str]) -> dict[str, Any] | None:
    """The Argo Events ``Sensor`` submitting the template when an upstream flow's run
    succeeds (``upstream``: flow -> its branch-qualified name) or a named event arrives;
    None when the flow has neither trigger."""
    triggers = plan.flow.triggers
    if not triggers.on_finish and not triggers.events:
        return None
    dependencies: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for flow in triggers.on_finish:
        dep = f"finished-{k8s_name(flow, 40)}"
        dependencies.append({
            "name": dep, "eventSourceName": settings.event_source, "eventName": settings.event_name,
            "filters": {"data": [
                {"path": "body.type", "type": "string", "value": [FINISHED]},
                {"path": "body.flow", "type": "string", "value": [upstream[flow]]},
            ]},
        })
        entries.append(_submit(settings, f"after-{k8s_name(flow, 40)}", dep, []))
    for event in triggers.events:
        dep = f"event-{k8s_name(event.name, 40)}"
        dependencies.append({
            "name": dep, "eventSourceName": settings.event_source, "eventName": settings.event_name,
            "filters": {"data": [
                {"path": "body.type", "type": "string", "value": [EVENT]},
                {"path": "body.name", "type": "string", "value": [event.name]},
            ]},
        })
        mapping = [{
            "src": {"dependencyName": dep, "dataTemplate": _payload_template(event, list(plan.params))},
            "dest": "spec.arguments.parameters.0.value",
        }]
        entries.append(_submit(settings, f"on-{k8s_name(event.name, 40)}", dep, mapping))
    spec: dict[str, Any] = {"dependencies": dependencies, "triggers": entries}
    if settings.service_account:
        spec["template"] = {"serviceAccountName": settings.service_account}
    return {"apiVersion": API_VERSION, "kind": "Sensor",
            "metadata": _metadata(settings, settings.name), "spec": spec}

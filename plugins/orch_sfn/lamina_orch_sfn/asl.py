"""A flow as an Amazon States Language state machine, and the four AWS Batch job
definitions its Task states submit. Plain dicts; nothing here calls AWS.

The states, in the flow's topological order (independent branches run one after the
other)::

    start            a Batch job: `lamina stepwise start` (run id -> DynamoDB)
    run id           DynamoDB getItem: the run id into $.lamina.run
    prepare STEP     a Batch job: `lamina stepwise prepare` (task indexes -> DynamoDB)
    indexes STEP     (foreach) DynamoDB getItem: the indexes into $.fanout.indexes
    step STEP        a Batch job `python -m lamina task`, or a Map of them (foreach)
    finish           a Batch job: `lamina stepwise finish`, then Succeed
    finish failed    the same after a step failed (Catch), then Fail with the cause

Batch jobs cannot hand a value back to Step Functions, so the two values a run needs
later (its id, a foreach's indexes) go through one DynamoDB item each, written by
``python -m lamina_orch_sfn.relay`` in the job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from lamina.sdk import LaminaError

MIN_TIMEOUT = 60  # AWS Batch refuses attemptDurationSeconds below 60
#: The error of a failed execution (its cause: the failed step's).
FAILED_ERROR = "LaminaRunFailed"
_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def batch_name(text: str, limit: int = 128) -> str:
    """``text`` as an AWS Batch / Step Functions name (letters, digits, ``-``, ``_``)."""
    return _BAD.sub("-", text).strip("-")[:limit] or "flow"


@attrs.frozen
class SfnSettings:
    """What the state machine and its job definitions pin besides the steps."""

    name: str  # the state machine's name (qualified by project branch)
    flow: str
    deployment_id: str
    stack: str
    config_file: str
    datastore_spec: str
    datastore_url: str
    image: str
    python: str
    job_queue: str
    state_table: str
    events: Mapping[str, Mapping[str, str]]  # event name -> {param: payload field}
    env: Mapping[str, str] = attrs.field(factory=dict)
    secrets: Mapping[str, str] = attrs.field(factory=dict)
    job_role_arn: str | None = None
    execution_role_arn: str | None = None
    cpu: float = 1.0
    memory: int = 2048
    retry_interval: int = 10
    max_concurrency: int = 0


def _where(settings: SfnSettings) -> list[str]:
    if settings.datastore_spec:
        return ["--datastore-spec", settings.datastore_spec]
    return ["--datastore", settings.datastore_url]


def commands(settings: SfnSettings) -> dict[str, list[str]]:
    """The command of each job definition; ``Ref::NAME`` is filled from the job's
    ``Parameters`` at submission (AWS Batch parameter substitution)."""
    py, lamina = settings.python, [settings.python, "-m", "lamina"]
    relay = [py, "-m", "lamina_orch_sfn.relay"]
    stack = ["--config", settings.config_file, "--stack", settings.stack]
    return {
        "start": [
            *relay, "start", "--table", settings.state_table, "--key", "Ref::key",
            "--input", "Ref::input", "--events", json.dumps(settings.events, sort_keys=True), "--",
            *lamina, *stack, "stepwise", "start", "--flow", settings.flow,
            "--deployment", settings.deployment_id, "--orchestrator", "step-functions",
            "--orchestrator-run-id", "Ref::execution", "--tag", f"sfn-state-machine:{settings.name}",
            "--tag", "Ref::tag",
        ],
        "prepare": [
            *relay, "indexes", "--table", settings.state_table, "--key", "Ref::key", "--",
            *lamina, "stepwise", "prepare", *_where(settings), "--run", "Ref::run", "--step", "Ref::step",
        ],
        "task": [*lamina, "task", *_where(settings), "--run", "Ref::run", "--step", "Ref::step",
                 "--index", "Ref::index", "--attempt", "Ref::attempt"],
        "finish": [*lamina, *stack, "stepwise", "finish", "--run", "Ref::run"],
    }


def _cpu(value: float) -> str:
    return f"{value:g}"


def job_definitions(settings: SfnSettings) -> dict[str, dict[str, Any]]:
    """``register_job_definition`` requests of the four job kinds."""
    out = {}
    for kind, command in commands(settings).items():
        container: dict[str, Any] = {
            "image": settings.image,
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": _cpu(settings.cpu)},
                                     {"type": "MEMORY", "value": str(settings.memory)}],
            "environment": [{"name": k, "value": v} for k, v in sorted(settings.env.items())],
        }
        if settings.secrets:
            container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(settings.secrets.items())]
        if settings.job_role_arn:
            container["jobRoleArn"] = settings.job_role_arn
        if settings.execution_role_arn:
            container["executionRoleArn"] = settings.execution_role_arn
        out[kind] = {
            "jobDefinitionName": batch_name(f"{settings.name}-{kind}"),
            "type": "container",
            "containerProperties": container,
            "tags": {"lamina:flow": settings.flow, "lamina:deployment": settings.deployment_id},
        }
    return out


def _batch_task(settings: SfnSettings, kind: str, job_definitions: Mapping[str, str],
                params: dict[str, Any], *, job: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::batch:submitJob.sync",
        "Parameters": {
            "JobName": batch_name(f"{settings.name}-{job}"),
            "JobQueue": settings.job_queue,
            "JobDefinition": job_definitions[kind],
            "Parameters": params,
        },
        "ResultPath": None,
    }


def _read(settings: SfnSettings, key: str, selector: dict[str, str], result: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": settings.state_table,
                       "Key": {"key": {"S.$": f"States.Format('{{}}/{key}', $$.Execution.Name)"}}},
        "ResultSelector": selector,
        "ResultPath": result,
    }


_CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "finish failed"}]


def _step_task(settings: SfnSettings, step: Any, job_definitions: Mapping[str, str],
               *, run: str, index: str) -> dict[str, Any]:
    opts = step.options
    params: dict[str, Any] = {
        "run.$": run, "step": step.name,
        "attempt.$": "States.Format('{}', States.MathAdd($$.State.RetryCount, 1))",
    }
    if index.startswith(("$", "States.")):
        params["index.$"] = index
    else:
        params["index"] = index
    task = _batch_task(settings, "task", job_definitions, params, job=f"step-{step.name}")
    res = opts.resources
    requirements = []
    if res.cpu:
        requirements.append({"Type": "VCPU", "Value": _cpu(res.cpu)})
    if res.memory:
        requirements.append({"Type": "MEMORY", "Value": str(res.memory)})
    if res.gpu:
        requirements.append({"Type": "GPU", "Value": str(res.gpu)})
    if requirements:
        task["Parameters"]["ContainerOverrides"] = {"ResourceRequirements": requirements}
    if opts.timeout is not None:
        task["Parameters"]["Timeout"] = {"AttemptDurationSeconds": max(MIN_TIMEOUT, int(opts.timeout))}
    if opts.retries:
        task["Retry"] = [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": opts.retries,
                          "IntervalSeconds": settings.retry_interval, "BackoffRate": 2.0}]
    return task


def _check(plan: Any) -> None:
    seen: dict[str, str] = {}
    for name in plan.graph.order:
        step = plan.flow.steps[name]
        if step.options.cache:
            raise LaminaError(
                f"step '{name}' ({step.where}) sets cache=True, which Step Functions cannot "
                "honour: each execution runs its steps, it does not look up earlier results",
                hint="drop cache=True for the deployed flow (or reproduce locally with "
                "`lamina resume`, which reuses results)",
            )
        if len(name) > 60:
            raise LaminaError(
                f"step '{name}' ({step.where}) has a name of {len(name)} characters; a Step "
                "Functions state name holds at most 80, and lamina adds a prefix",
                hint="rename the step to at most 60 characters",
            )
        key = batch_name(name)
        if key in seen:
            raise LaminaError(
                f"steps '{seen[key]}' and '{name}' both become the AWS Batch name {key!r}",
                hint="rename one of them (Batch names hold letters, digits, '-' and '_')",
            )
        seen[key] = name


def state_machine(plan: Any, settings: SfnSettings, job_definitions: Mapping[str, str]) -> dict[str, Any]:
    """The ASL definition of ``plan`` (``job_definitions``: kind -> job definition ARN)."""
    _check(plan)
    order = list(plan.graph.order)
    run = "$.lamina.run"
    states: dict[str, Any] = {}
    start = _batch_task(settings, "start", job_definitions, {
        "key.$": "States.Format('{}/run', $$.Execution.Name)",
        "input.$": "States.JsonToString($)",
        "execution.$": "$$.Execution.Id",
        "tag.$": "States.Format('sfn-execution:{}', $$.Execution.Name)",
    }, job="start")
    start["Next"] = "run id"
    start["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "failed"}]
    states["start"] = start
    states["run id"] = {**_read(settings, "run", {"run.$": "$.Item.value.S"}, "$.lamina"),
                        "Next": f"prepare {order[0]}"}
    for position, name in enumerate(order):
        step = plan.flow.steps[name]
        after = f"prepare {order[position + 1]}" if position + 1 < len(order) else "finish"
        prepare = _batch_task(settings, "prepare", job_definitions, {
            "key.$": f"States.Format('{{}}/{batch_name(name)}', $$.Execution.Name)",
            "run.$": run, "step": name,
        }, job=f"prepare-{name}")
        prepare["Catch"] = _CATCH
        if step.options.foreach:
            prepare["Next"] = f"indexes {name}"
            states[f"prepare {name}"] = prepare
            states[f"indexes {name}"] = {
                **_read(settings, batch_name(name),
                        {"indexes.$": "States.StringToJson($.Item.value.S)"}, "$.fanout"),
                "Next": f"step {name}",
            }
            inner = _step_task(settings, step, job_definitions, run="$.run",
                               index="States.Format('{}', $.index)")
            inner["End"] = True
            states[f"step {name}"] = {
                "Type": "Map",
                "ItemsPath": "$.fanout.indexes",
                "ItemSelector": {"run.$": run, "index.$": "$$.Map.Item.Value"},
                "MaxConcurrency": settings.max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": f"task {name}",
                    "States": {f"task {name}": inner},
                },
                "ResultPath": None,
                "Catch": _CATCH,
                "Next": after,
            }
        else:
            prepare["Next"] = f"step {name}"
            states[f"prepare {name}"] = prepare
            task = _step_task(settings, step, job_definitions, run=run, index="0")
            task["Catch"] = _CATCH
            task["Next"] = after
            states[f"step {name}"] = task
    finish = _batch_task(settings, "finish", job_definitions, {"run.$": run}, job="finish")
    finish["Next"] = "succeeded"
    finish["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "failed"}]
    states["finish"] = finish
    failed_finish = _batch_task(settings, "finish", job_definitions, {"run.$": run}, job="finish")
    failed_finish["Next"] = "failed"
    failed_finish["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.finish", "Next": "failed"}]
    states["finish failed"] = failed_finish
    states["succeeded"] = {"Type": "Succeed"}
    # the cause is the failed state's (a Batch job's description, with its status reason)
    states["failed"] = {"Type": "Fail", "Error": FAILED_ERROR, "CausePath": "$.error.Cause"}
    return {
        "Comment": f"lamina flow {plan.flow.name} (deployment {plan.deployment_id}); generated "
        "by `lamina deploy`, do not edit: deploy again",
        "StartAt": "start",
        "States": states,
    }

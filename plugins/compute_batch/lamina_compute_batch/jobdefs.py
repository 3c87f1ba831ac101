"""Job definitions and job requests for AWS Batch: plain dicts, no AWS call here.

A job definition holds what does not change from task to task of a step: the image, the
resources, the roles, the environment and the secret references. Its content is hashed; the
hash is kept in the definition's ``parameters`` (``lamina_content_hash``), so an ACTIVE
revision with the same content is reused and a changed image or resource request registers
a new revision of the same name: definitions are versioned, never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.sdk import task_command

if TYPE_CHECKING:
    from lamina.sdk import TaskSpec
    from lamina_compute_batch.plugin import BatchComputeOptions

HASH_PARAMETER = "lamina_content_hash"
ARRAY_INDEX_ENV = "AWS_BATCH_JOB_ARRAY_INDEX"
MIN_TIMEOUT = 60  # AWS Batch refuses attemptDurationSeconds below 60
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def batch_name(*parts: str) -> str:
    """A job or job definition name: letters, digits, '-' and '_', at most 128."""
    return _NAME_BAD.sub("-", "-".join(parts)).strip("-")[:128] or "lamina"


def _number(value: float) -> str:
    return f"{value:g}"


def resource_requirements(spec: TaskSpec, options: BatchComputeOptions) -> list[dict[str, str]]:
    res = spec.resources
    out = [
        {"type": "VCPU", "value": _number(res.cpu or options.default_cpu)},
        {"type": "MEMORY", "value": str(int(res.memory or options.default_memory))},
    ]
    if res.gpu:
        out.append({"type": "GPU", "value": str(int(res.gpu))})
    return out


def retry_strategy(options: BatchComputeOptions) -> dict[str, Any]:
    """Batch retries only what is not the task's fault (the host went away); the step's
    own ``retries`` are lamina's, with a new attempt number and outcome record."""
    return {
        "attempts": options.retry_attempts,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }


def job_definition(options: BatchComputeOptions, spec: TaskSpec) -> dict[str, Any]:
    """The ``register_job_definition`` request for a step's tasks, with its content hash
    in ``parameters``."""
    container: dict[str, Any] = {
        "image": options.image,
        "command": [options.python, "-m", "lamina", "--version"],  # each job overrides it
        "resourceRequirements": resource_requirements(spec, options),
        "environment": [
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            *({"name": k, "value": v} for k, v in sorted(options.env.items())),
        ],
    }
    if options.secrets:
        container["secrets"] = [
            {"name": k, "valueFrom": v} for k, v in sorted(options.secrets.items())
        ]
    if options.job_role_arn:
        container["jobRoleArn"] = options.job_role_arn
    if options.execution_role_arn:
        container["executionRoleArn"] = options.execution_role_arn
    if options.platform == "FARGATE":
        container["fargatePlatformConfiguration"] = {"platformVersion": "LATEST"}
        container["networkConfiguration"] = {"assignPublicIp": "DISABLED"}
    request: dict[str, Any] = {
        "jobDefinitionName": batch_name(options.job_definition_prefix, spec.flow, spec.step),
        "type": "container",
        "containerProperties": container,
        "retryStrategy": retry_strategy(options),
        "platformCapabilities": [options.platform],
        "propagateTags": True,
    }
    if options.tags:
        request["tags"] = dict(options.tags)
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:20]
    request["parameters"] = {HASH_PARAMETER: digest}
    return request


def submit_request(
    options: BatchComputeOptions, specs: Sequence[TaskSpec], job_definition_arn: str
) -> dict[str, Any]:
    """The ``submit_job`` request of consecutive tasks: an array job when there are
    several (the array index is added to ``--index`` in the task), a plain job for one."""
    first = specs[0]
    array = len(specs) > 1
    command = task_command(
        first, first_index=first.index, index_env=ARRAY_INDEX_ENV if array else None,
        python=options.python,
    )
    request: dict[str, Any] = {
        "jobName": batch_name(options.job_definition_prefix, first.step, str(first.index),
                              f"a{first.attempt}", first.run_id),
        "jobQueue": options.job_queue,
        "jobDefinition": job_definition_arn,
        "containerOverrides": {
            "command": command,
            "environment": [{"name": "LAMINA_RUN_ID", "value": first.run_id}],
        },
        "propagateTags": True,
        "tags": {
            **options.tags,
            "lamina:run": first.run_id,
            "lamina:flow": first.flow,
            "lamina:step": first.step,
        },
    }
    if array:
        request["arrayProperties"] = {"size": len(specs)}
    if first.timeout:
        request["timeout"] = {"attemptDurationSeconds": max(MIN_TIMEOUT, math.ceil(first.timeout))}
    return request

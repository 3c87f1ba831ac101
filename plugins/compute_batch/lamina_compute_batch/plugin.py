"""The ``batch`` compute component: its options and its registration.

Imported on every ``lamina`` invocation (entry point), so this module holds only the options
class; the factory imports boto3 when a stack actually builds the component.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from lamina.sdk import ComponentSpec, hookimpl, plain_env_validator

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:\d{12}:.+$")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _array_limit(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 2 <= value <= 10_000:
        raise ValueError(f"array_size_limit must be within 2..10000 (AWS Batch), got {value}")


def _attempts(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 1 <= value <= 10:
        raise ValueError(f"retry_attempts must be within 1..10 (AWS Batch), got {value}")


_plain_env = plain_env_validator(
    _ENV_NAME, stored_in="stored in the job definition",
    fix="Keep it in Secrets Manager or SSM Parameter Store and use "
    'secrets = { {name} = "arn:aws:secretsmanager:..." }',
)


def _secret_arns(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for name, arn in value.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"secrets: {name!r} is not a valid environment variable name")
        if not _SECRET_ARN.match(arn):
            raise ValueError(
                f"secrets.{name} = {arn!r}: expected the ARN of a Secrets Manager secret or an "
                "SSM parameter (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME or "
                "arn:aws:ssm:REGION:ACCOUNT:parameter/NAME), never the value itself"
            )


@attrs.frozen
class BatchComputeOptions:
    """Options of the ``batch`` compute: tasks as AWS Batch jobs, foreach steps as array jobs.

    :param job_queue: the job queue (name or ARN) jobs are submitted to.
    :param image: the container image; it must have lamina, the stack's plugins and the
        flow's packages installed (the flow's code comes from the datastore).
    :param region: the AWS region (default: boto3's configuration).
    :param endpoint_url: another Batch endpoint (a VPC endpoint, a local emulator).
    :param job_role_arn: the IAM role the task assumes (its access to the datastore).
    :param execution_role_arn: the role that pulls the image, reads ``secrets`` and writes
        logs (required on Fargate and for ``secrets``).
    :param platform: ``EC2`` or ``FARGATE`` (the queue's compute environments decide which
        works).
    :param secrets: ``VAR = "ARN"``: environment variables from Secrets Manager or SSM
        Parameter Store, resolved by Batch when the container starts.
    :param env: plain environment variables (no credentials: names that look like
        credentials are refused).
    :param tags: tags on jobs and job definitions (propagated to the tasks), for cost
        attribution.
    :param max_in_flight: at most this many tasks submitted and not yet finished.
    :param array_size_limit: the largest array job (AWS Batch allows 10,000).
    :param retry_attempts: Batch's own attempts per job, used only when the host went away
        (spot reclaim, instance terminated); a step's ``retries`` are lamina's and come on top.
    :param default_cpu: vCPUs of a step that does not ask (Batch needs a number).
    :param default_memory: MiB of a step that does not ask.
    :param job_definition_prefix: job definitions are named PREFIX-CONTENTHASH.
    :param log_group: the CloudWatch Logs group of the jobs' log streams.
    :param python: the interpreter in the image that runs ``-m lamina task``.
    :param poll_interval: seconds between two status reads of the run's jobs.
    :param outcome_grace: seconds to wait for a task's outcome record after Batch says the
        job SUCCEEDED (a datastore with delayed visibility); then it is a failure.
    :param fetch_logs: ``failed``: a failed task that wrote no outcome gets its CloudWatch
        log stream as its stderr; ``never``: no log requests.
    """

    job_queue: str
    image: str
    region: str | None = None
    endpoint_url: str | None = None
    job_role_arn: str | None = None
    execution_role_arn: str | None = None
    platform: Literal["EC2", "FARGATE"] = "EC2"
    secrets: dict[str, str] = attrs.field(factory=dict, validator=_secret_arns)
    env: dict[str, str] = attrs.field(factory=dict, validator=_plain_env)
    tags: dict[str, str] = attrs.field(factory=dict)
    max_in_flight: int = attrs.field(default=1000, validator=_positive)
    array_size_limit: int = attrs.field(default=10_000, validator=_array_limit)
    retry_attempts: int = attrs.field(default=3, validator=_attempts)
    default_cpu: float = attrs.field(default=1.0, validator=_positive)
    default_memory: int = attrs.field(default=2048, validator=_positive)
    job_definition_prefix: str = "lamina"
    log_group: str = "/aws/batch/job"
    python: str = "python"
    poll_interval: float = attrs.field(default=5.0, validator=_positive)
    outcome_grace: float = attrs.field(default=0.0, validator=_not_negative)
    fetch_logs: Literal["failed", "never"] = "failed"


def _batch_compute(options: BatchComputeOptions, stack: Any) -> Any:
    from lamina_compute_batch.compute import BatchCompute

    return BatchCompute(options)


@hookimpl
def lamina_compute_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="compute",
            name="batch",
            config=BatchComputeOptions,
            factory=_batch_compute,
            description="tasks as AWS Batch jobs; foreach steps as array jobs",
            install_hint="pip install lamina-compute-batch",
        )
    ]

"""Registers the ``step-functions`` orchestrator. Imported on every ``lamina`` invocation,
so it holds only the options class; boto3 loads when a stack builds the orchestrator."""

from __future__ import annotations

import re
from typing import Any

import attrs

from lamina.sdk import ComponentSpec, hookimpl, plain_env_validator

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_plain_env = plain_env_validator(
    _ENV_NAME, stored_in="written into the Batch job definitions",
    fix='Put it in AWS Secrets Manager and use secrets = { {name} = "arn:aws:secretsmanager:..." }',
)


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _secret_arns(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for name, ref in value.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"secrets: {name!r} is not a valid environment variable name")
        if not ref.startswith("arn:"):
            raise ValueError(
                f"secrets.{name} = {ref!r}: expected the ARN of a Secrets Manager secret or an "
                "SSM parameter (a reference, never the value itself)"
            )


@attrs.frozen
class StepFunctionsOptions:
    """Options of the ``step-functions`` orchestrator: a flow becomes a state machine
    whose tasks are AWS Batch jobs.

    :param job_queue: the AWS Batch job queue (name or ARN) every step's jobs go to.
    :param image: the container image of the jobs (lamina, its plugins, this plugin and
        the flow's packages installed).
    :param role_arn: the IAM role the state machine runs as (Batch submit/describe,
        DynamoDB get on ``state_table``).
    :param state_table: the DynamoDB table (string hash key ``key``) where the jobs leave
        the run id and a foreach's task indexes for the state machine to read; created
        by ``lamina deploy`` when missing.
    :param job_role_arn: the jobs' IAM role (datastore access).
    :param execution_role_arn: the role ECS uses to pull the image and read ``secrets``.
    :param events_role_arn: the role EventBridge uses to start executions (needed for a
        schedule or triggers).
    :param region: the AWS region (default: the environment's).
    :param endpoint_url: another endpoint for every AWS API (tests, LocalStack, moto).
    :param python: the interpreter in the image.
    :param config_file: the lamina config file as the jobs see it (default: the deploying
        config file's absolute path).
    :param env: plain environment variables of the jobs (no credentials).
    :param secrets: ``VAR = "arn:..."``: a variable from Secrets Manager or SSM.
    :param cpu: vCPUs of a job whose step asks for none.
    :param memory: MiB of a job whose step asks for none.
    :param retry_interval: seconds before a step's first retry (doubling after).
    :param max_concurrency: at most this many tasks of one foreach at once (0: no limit).
    :param state_machine_prefix: put before the (branch-qualified) flow name.
    """

    job_queue: str
    image: str
    role_arn: str
    state_table: str = "lamina-sfn-state"
    job_role_arn: str | None = None
    execution_role_arn: str | None = None
    events_role_arn: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    python: str = "python"
    config_file: str = ""
    env: dict[str, str] = attrs.field(factory=dict, validator=_plain_env)
    secrets: dict[str, str] = attrs.field(factory=dict, validator=_secret_arns)
    cpu: float = attrs.field(default=1.0, validator=_positive)
    memory: int = attrs.field(default=2048, validator=_positive)
    retry_interval: int = attrs.field(default=10, validator=_positive)
    max_concurrency: int = 0
    state_machine_prefix: str = "lamina-"


def _sfn(options: StepFunctionsOptions, stack: Any) -> Any:
    from lamina_orch_sfn.orchestrator import StepFunctionsOrchestrator

    return StepFunctionsOrchestrator(options, stack)


@hookimpl
def lamina_orchestrators() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="orchestrator",
            name="step-functions",
            config=StepFunctionsOptions,
            factory=_sfn,
            description="compiles flows into AWS Step Functions state machines of AWS Batch "
            "jobs (`lamina deploy`, `lamina trigger`)",
            install_hint="pip install lamina-orch-step-functions",
        )
    ]

"""What moto needs to execute a lamina state machine for real (moto 5.2).

1. The fixes its Step Functions interpreter needs to call AWS Batch.

Step Functions writes service parameters in PascalCase (``JobName``) and hands results
back in PascalCase (``JobId``); AWS (and LocalStack, whose interpreter moto ported)
convert them to and from the boto shapes. moto 5.2 leaves that conversion out
(``StateTaskService._normalise_parameters`` / ``_normalise_response`` are no-ops), so a
``batch:submitJob.sync`` task fails with ``KeyError: 'JobName'`` inside botocore. :func:`apply`
restores the conversion with moto's own helpers.

2. A container for its Batch jobs. moto's Batch without Docker marks a job SUCCEEDED the
moment it is submitted, without running it. :func:`run_jobs` makes the submission run the
job's command here, as the container would (``Ref::`` parameters substituted, the job's
environment set, ``AWS_BATCH_JOB_ARRAY_INDEX`` for array children), and the job SUCCEEDED
or FAILED by its exit code, with the last line of its output as the status reason. So a
Step Functions execution on this server runs every ``python -m lamina`` command of the
flow, in the order the state machine submits them.

The test server's launcher (``python -m moto_sfn_patch -H HOST -p PORT``) applies both
before moto serves.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from typing import Any


def apply() -> None:
    import boto3
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as sts,
    )

    def _operation(self: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
        service = self._get_boto_service_name(boto_service_name)
        action = self._get_boto_service_action(service_action_name)
        model = boto3.client(service, region_name="us-east-1").meta.service_model
        names = {sts.camel_to_snake_case(n): n for n in model.operation_names}
        return model.operation_model(names[action])

    original_params = sts.StateTaskService._normalise_parameters
    original_response = sts.StateTaskService._normalise_response

    def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        original_params(self, parameters, boto_service_name, service_action_name)
        if self._get_boto_service_name(boto_service_name) == "batch":
            shape = _operation(self, boto_service_name, service_action_name).input_shape
            self._to_boto_request(parameters, shape)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        original_response(self, response, boto_service_name, service_action_name)
        if self._get_boto_service_name(boto_service_name) == "batch":
            shape = _operation(self, boto_service_name, service_action_name).output_shape
            self._from_boto_response(response, shape)

    sts.StateTaskService._normalise_parameters = normalise_parameters
    sts.StateTaskService._normalise_response = normalise_response

    # A ``.sync`` task also listens for a task-token callback, on an endpoint keyed by
    # the task token, which a retry reuses after the first attempt interrupted it: the
    # retry then "times out" at once (States.Timeout). A ``.sync`` resource has no
    # callback, so its retries wait for the job only.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as cb,
    )

    original_sync = cb.StateTaskServiceCallback._eval_sync

    def eval_sync(self: Any, env: Any, sync_resolver: Any, timeout_seconds: Any,
                  callback_endpoint: Any, heartbeat_endpoint: Any) -> Any:
        if self.resource.condition == cb.ResourceCondition.Sync:
            callback_endpoint = None
        return original_sync(self, env, sync_resolver, timeout_seconds, callback_endpoint,
                             heartbeat_endpoint)

    cb.StateTaskServiceCallback._eval_sync = eval_sync


def _command(job: Any) -> list[str]:
    props = job.job_definition.container_properties or {}
    command = (job.container_overrides or {}).get("command") or props.get("command") or []
    params = {**(job.job_definition.parameters or {}), **(job.parameters or {})}
    out = []
    for part in command:
        for name, value in params.items():
            part = part.replace(f"Ref::{name}", str(value))
        out.append(part)
    return out


def _environment(job: Any) -> dict[str, str]:
    props = job.job_definition.container_properties or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    for item in props.get("environment") or []:
        env[item["name"]] = item["value"]
    for item in (job.container_overrides or {}).get("environment") or []:
        env[item["name"]] = item["value"]
    index = (job.array_properties or {}).get("index")
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return env


#: Every command the patched Batch ran, in order, with its exit code (for the tests).
RAN_LOG = os.environ.get("LAMINA_TEST_JOB_LOG", "")


def run_jobs() -> None:
    from moto.batch_simple import models

    def mark(self: Any, include_start_attempt: bool, job: Any) -> None:
        self.backend._jobs[job.job_id] = job
        job.job_started_at = datetime.datetime.now()
        job.log_stream_name = job._stream_name
        if not include_start_attempt:  # an array parent: its children ran
            job._mark_stopped(success=all(c.status == "SUCCEEDED" for c in job._child_jobs or []))
            return
        job._start_attempt()
        command = _command(job)
        done = subprocess.run(command, env=_environment(job), capture_output=True, text=True,
                              cwd=os.environ.get("LAMINA_TEST_JOB_CWD") or None)
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        if RAN_LOG:
            with open(RAN_LOG, "a") as log:
                log.write(json.dumps({"command": command, "returncode": done.returncode,
                                      "stdout": done.stdout[-2000:], "stderr": done.stderr[-4000:]}) + "\n")
        if done.returncode != 0:
            job.job_stopped_reason = f"Essential container in task exited: {last[0][:200]}"
        job._mark_stopped(success=done.returncode == 0)

    models.BatchSimpleBackend._mark_job_as_finished = mark


if __name__ == "__main__":  # python -m moto_sfn_patch -H HOST -p PORT: moto_server, patched
    apply()
    run_jobs()
    from moto.server import main

    sys.exit(main(sys.argv[1:]))

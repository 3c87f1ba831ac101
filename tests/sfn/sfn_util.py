"""A real moto server on loopback whose Step Functions interpreter executes state machines
and whose AWS Batch runs each job's command here (see moto_sfn_patch), with the queue,
roles and the project the Step Functions tests deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from envs_util import free_port, stop_process, wait_for_port

REGION = "eu-west-1"
QUEUE = "lamina-queue"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
HERE = Path(__file__).parent


class MotoSfn:
    """moto with Step Functions execution on, Batch jobs run here, a queue and roles."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.jobs_log = workdir / "jobs.jsonl"
        env = {**os.environ, **CREDENTIALS,
               "MOTO_PORT": str(self.port),  # where the interpreter calls Batch and DynamoDB
               "AWS_ENDPOINT_URL": self.url,  # what the jobs' boto3 (the relay) talks to
               "LAMINA_TEST_JOB_LOG": str(self.jobs_log),
               "LAMINA_TEST_JOB_CWD": str(workdir),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        self.log = open(workdir / f"moto-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto_sfn_patch", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(self.port, process=self.process, timeout=60)
            request = urllib.request.Request(
                f"{self.url}/moto-api/config", method="POST",
                data=json.dumps({"batch": {"use_docker": False},
                                 "stepfunctions": {"execute_state_machine": True}}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=30).read()
            self._create()
        except BaseException:
            self.stop()
            raise

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            aws_session_token="testing", region_name=REGION,
        ).client(service, endpoint_url=self.url)

    def _create(self) -> None:
        role = self.client("iam").create_role(
            RoleName="lamina-sfn", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"Service": "states.amazonaws.com"}}],
            }),
        )
        self.role_arn = role["Role"]["Arn"]
        batch = self.client("batch")
        env = batch.create_compute_environment(
            computeEnvironmentName="lamina-ce", type="UNMANAGED", state="ENABLED",
            serviceRole=self.role_arn,
        )
        queue = batch.create_job_queue(
            jobQueueName=QUEUE, state="ENABLED", priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
        )
        self.queue_arn = queue["jobQueueArn"]

    def ran(self) -> list[dict[str, Any]]:
        """Every job command the server ran, in order, with exit code and output."""
        if not self.jobs_log.exists():
            return []
        return [json.loads(line) for line in self.jobs_log.read_text().splitlines()]

    def wait(self, execution_arn: str, timeout: float = 240) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            done = sfn.describe_execution(executionArn=execution_arn)
            if done["status"] != "RUNNING" or time.monotonic() > deadline:
                return done
            time.sleep(0.2)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events (what the interpreter did, state by state)."""
        sfn = self.client("stepfunctions")
        return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_project(root: Path, moto: MotoSfn, flow: str, *, name: str = "flow.py", **options: Any) -> Path:
    """``root`` with lamina.toml (stack ``sfn``: file datastore and SQLite metadata in the
    project, the step-functions orchestrator on ``moto``) and ``flow`` in ``name``."""
    root.mkdir(parents=True, exist_ok=True)
    opts = {
        "job_queue": moto.queue_arn, "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml:1",
        "role_arn": moto.role_arn, "events_role_arn": moto.role_arn, "region": REGION,
        "endpoint_url": moto.url, "python": sys.executable, "retry_interval": 1, **options,
    }
    lines = ["[stacks.sfn]", f'datastore = "file://{root / ".lamina"}"',
             "[stacks.sfn.orchestrator]", 'plugin = "step-functions"']
    lines += [f"{k} = {_toml(v)}" for k, v in opts.items() if v is not None]
    (root / "lamina.toml").write_text("\n".join(lines) + "\n")
    (root / name).write_text(flow)
    return root / name

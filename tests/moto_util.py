"""A real moto server on loopback: the AWS APIs of the Batch and Step Functions tests,
with the job queue (and its role) both kinds of test submit to."""

from __future__ import annotations

import json
import os
import subprocess
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


class MotoServer:
    """A moto server started with ``command`` (its port appended), configured with
    ``config`` through its API, then populated by :meth:`_create`; stopped on any failure."""

    def __init__(self, workdir: Path, command: list[str], *, env: dict[str, str] | None = None,
                 config: dict[str, Any] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"moto-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, **CREDENTIALS, **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(self.port, process=self.process, timeout=60)
            if config:
                request = urllib.request.Request(
                    f"{self.url}/moto-api/config", method="POST",
                    data=json.dumps(config).encode(),
                    headers={"Content-Type": "application/json"},
                )
                urllib.request.urlopen(request, timeout=30).read()
            self._create()
        except BaseException:
            self.stop()
            raise

    def _create(self) -> None:
        """What the tests need on the server (overridden)."""

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            aws_session_token="testing", region_name=REGION,
        ).client(service, endpoint_url=self.url)

    def create_queue(self, role_name: str, principal: str) -> None:
        """An IAM role ``principal`` may assume (``role_arn``) and the Batch job queue
        ``QUEUE`` on an unmanaged compute environment (``queue_arn``)."""
        role = self.client("iam").create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"Service": principal}}],
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

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()

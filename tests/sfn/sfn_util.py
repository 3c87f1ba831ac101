"""A real moto server on loopback whose Step Functions interpreter executes state machines
and whose AWS Batch runs each job's command here (see moto_sfn_patch), with the queue,
roles and the project the Step Functions tests deploy."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from envs_util import free_port
from moto_util import CREDENTIALS, REGION, MotoServer

__all__ = ["CREDENTIALS", "MotoSfn", "write_project"]
HERE = Path(__file__).parent


class MotoSfn(MotoServer):
    """moto with Step Functions execution on, Batch jobs run here, a queue and roles."""

    def __init__(self, workdir: Path) -> None:
        self.jobs_log = workdir / "jobs.jsonl"
        port = free_port()
        env = {"MOTO_PORT": str(port),  # where the interpreter calls Batch and DynamoDB
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",  # the jobs' boto3 (the relay)
               "LAMINA_TEST_JOB_LOG": str(self.jobs_log),
               "LAMINA_TEST_JOB_CWD": str(workdir),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        super().__init__(workdir, [sys.executable, "-m", "moto_sfn_patch"], env=env,
                         config={"batch": {"use_docker": False},
                                 "stepfunctions": {"execute_state_machine": True}}, port=port)

    def _create(self) -> None:
        self.create_queue("lamina-sfn", "states.amazonaws.com")

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

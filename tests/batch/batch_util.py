"""A real moto server on loopback with an AWS Batch queue, and a stand-in for the container.

moto implements the Batch API; with ``{"batch": {"use_docker": false}}`` its jobs reach
SUCCEEDED without running anything (or FAILED when the server's environment has
``MOTO_SIMPLE_BATCH_FAIL_AFTER``). :class:`ContainerEmulator` plays the missing part for
the end-to-end tests: it reads each submitted job back from the Batch API and runs the
job's own command (``python -m lamina task ...``) with ``AWS_BATCH_JOB_ARRAY_INDEX`` set
per array child, exactly as the container would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto_util import CREDENTIALS, QUEUE, REGION, MotoServer

SECRET_VALUE = "s3cr3t-datastore-key-7f3a"  # must never appear in a job or its definition

__all__ = ["CREDENTIALS", "QUEUE", "REGION", "SECRET_VALUE", "ContainerEmulator", "MotoBatch",
           "write_project"]


class MotoBatch(MotoServer):
    """A moto server with a compute environment, a job queue, an IAM role and a secret."""

    def __init__(self, workdir: Path, *, fail_after: int | None = None) -> None:
        env = {} if fail_after is None else {"MOTO_SIMPLE_BATCH_FAIL_AFTER": str(fail_after)}
        super().__init__(workdir, [str(Path(sys.executable).with_name("moto_server"))],
                         env=env, config={"batch": {"use_docker": False}})

    def _create(self) -> None:
        self.create_queue("lamina-task", "ecs-tasks.amazonaws.com")
        secret = self.client("secretsmanager").create_secret(
            Name="lamina/datastore", SecretString=SECRET_VALUE
        )
        self.secret_arn = secret["ARN"]

    def jobs(self) -> list[dict[str, Any]]:
        """Every job of the queue, described (parents and plain jobs, not array children)."""
        batch = self.client("batch")
        ids: list[str] = []
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
            for summary in batch.list_jobs(jobQueue=QUEUE, jobStatus=status)["jobSummaryList"]:
                if ":" not in summary["jobId"] and summary["jobId"] not in ids:
                    ids.append(summary["jobId"])
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            out.extend(batch.describe_jobs(jobs=ids[start:start + 100])["jobs"])
        return sorted(out, key=lambda j: j.get("createdAt", 0))

class ContainerEmulator:
    """Runs every job's command as its container would, once per job (per array child)."""

    def __init__(self, moto: MotoBatch, workdir: Path) -> None:
        self.moto = moto
        self.workdir = workdir
        self.done: set[str] = set()
        self.ran: list[list[str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ContainerEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for job in self.moto.jobs():
                if job["jobId"] in self.done:
                    continue
                self.done.add(job["jobId"])
                size = (job.get("arrayProperties") or {}).get("size")
                for index in range(size) if size else [None]:
                    self._run(job, index)
            time.sleep(0.05)

    def _run(self, job: dict[str, Any], index: int | None) -> None:
        container = job["container"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
        env.update({e["name"]: e["value"] for e in container.get("environment") or []})
        if index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
        self.ran.append(container["command"])
        try:
            done = subprocess.run(container["command"], env=env, cwd=self.workdir,
                                  capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as exc:  # shown with the test's failure
            print(f"emulated container timed out: {exc}", file=sys.stderr)
            return
        if done.returncode != 0:  # a failed container: its output is the diagnosis
            print(f"emulated container exited {done.returncode}: {container['command']}\n"
                  f"{done.stdout}{done.stderr}", file=sys.stderr)


FLOW = '''\
from lamina import Flow

flow = Flow("cubes")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers", compute="batch", cpu=0.5, memory=256, timeout=600, retries=RETRIES)
def cube(numbers: int) -> int:
    print(f"cubing {numbers}")
    return numbers ** 3


@flow.step
def total(cube: list[int]) -> int:
    return sum(cube)
'''


def write_project(root: Path, moto: MotoBatch, *, retries: int = 0, **options: Any) -> Path:
    """A project whose ``cube`` step runs on ``batch`` (the moto server); the rest local."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cubes.py").write_text(FLOW.replace("RETRIES", str(retries)))
    opts = {
        "job_queue": QUEUE, "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml:2026-11",
        "region": REGION, "endpoint_url": moto.url, "job_role_arn": moto.role_arn,
        "execution_role_arn": moto.role_arn, "poll_interval": 0.05,
        "python": sys.executable, **options,
    }
    tables = {k: v for k, v in opts.items() if isinstance(v, dict)}
    plain = "\n".join(f"{k} = {json.dumps(v)}" for k, v in opts.items() if k not in tables)
    sub = "\n".join(
        f"\n[stacks.batch.compute_overrides.batch.{k}]\n"
        + "\n".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items())
        for k, v in tables.items()
    )
    (root / "lamina.toml").write_text(
        '[stacks.batch]\ndatastore = { plugin = "file", url = ".lamina" }\n\n'
        f"[stacks.batch.compute_overrides.batch]\n{plain}\n{sub}\n"
    )
    return root / "cubes.py"

"""Exit reasons from AWS Batch job descriptions, shaped as DescribeJobs documents them
(moto cannot produce these: its jobs only succeed or fail without a reason), and the
requests built for jobs and definitions."""

from __future__ import annotations

import pytest
from lamina_compute_batch.compute import classify_job
from lamina_compute_batch.jobdefs import job_definition, submit_request
from lamina_compute_batch.plugin import BatchComputeOptions

from lamina.config.options import build_options
from lamina.records import Resources, TaskSpec


def described(status_reason: str = "", exit_code: int | None = None, reason: str = "") -> dict:
    container = {"logStreamName": "lamina-cubes-cube/default/0f3c"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason:
        container["reason"] = reason
    return {
        "jobName": "lamina-cube-0-a1-RUN", "jobId": "b521c26c", "status": "FAILED",
        "statusReason": status_reason,
        "attempts": [{"container": container, "statusReason": status_reason}],
        "container": {"exitCode": exit_code} if exit_code is not None else {},
    }


@pytest.mark.parametrize(("job", "expected", "words"), [
    (described("Job attempt duration exceeded timeout"), "timeout", "timeout"),
    (described("Host EC2 (instance i-0abc) terminated."), "preempted", "lost its host"),
    (described("Essential container in task exited", 137,
               "OutOfMemoryError: Container killed due to memory usage"), "oom", "memory="),
    (described("Essential container in task exited", 2), "exit", "exited with code 2"),
    (described("cancelled by lamina (the run was interrupted or failed)"), "cancelled", "lamina"),
    (described(""), "engine", "no reason given"),
])
def test_batch_failures_are_classified(job: dict, expected: str, words: str) -> None:
    reason, message = classify_job(job)
    assert reason == expected
    assert words in message and "b521c26c" in message


def _spec(index: int = 0, **kw) -> TaskSpec:
    return TaskSpec(run_id="20261127T044315123-a1b2c3", flow="cubes", step="cube", index=index,
                    attempt=1, datastore_url="s3://b/p", **kw)


def test_the_definition_hash_follows_image_and_resources_only() -> None:
    opts = build_options(BatchComputeOptions, {"job_queue": "q", "image": "i:1"})
    base = job_definition(opts, _spec(resources=Resources(cpu=1, memory=512)))
    same = job_definition(opts, _spec(index=7, resources=Resources(cpu=1, memory=512), timeout=9))
    assert base == same  # index and timeout are per job, not per definition
    other = job_definition(opts, _spec(resources=Resources(cpu=1, memory=512, gpu=1)))
    assert other["parameters"] != base["parameters"]
    newer = job_definition(build_options(BatchComputeOptions, {"job_queue": "q", "image": "i:2"}),
                           _spec(resources=Resources(cpu=1, memory=512)))
    assert newer["parameters"] != base["parameters"]
    assert newer["jobDefinitionName"] == base["jobDefinitionName"] == "lamina-cubes-cube"


def test_fargate_definitions_carry_the_platform_settings() -> None:
    opts = build_options(BatchComputeOptions, {"job_queue": "q", "image": "i", "platform": "FARGATE"})
    d = job_definition(opts, _spec())
    assert d["platformCapabilities"] == ["FARGATE"]
    assert d["containerProperties"]["networkConfiguration"] == {"assignPublicIp": "DISABLED"}


def test_short_timeouts_meet_the_batch_minimum() -> None:
    opts = build_options(BatchComputeOptions, {"job_queue": "q", "image": "i"})
    request = submit_request(opts, [_spec(timeout=5), _spec(1, timeout=5)], "arn:def")
    assert request["timeout"] == {"attemptDurationSeconds": 60}
    assert request["arrayProperties"] == {"size": 2}

"""The ``batch`` compute against a real moto server on loopback (AWS Batch API).

moto marks jobs SUCCEEDED without running them. Two answers to "then no outcome record
exists", both tested: (1) the end-to-end tests run each submitted job's own command, read
back from the Batch API, as the container would (batch_util.ContainerEmulator), so the run
really completes; (2) without that, the plugin reports "succeeded but wrote no outcome
record" as a clear failure. A second server with MOTO_SIMPLE_BATCH_FAIL_AFTER makes every
job FAILED, for the failure and retry path.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from batch_util import CREDENTIALS, QUEUE, SECRET_VALUE, ContainerEmulator, MotoBatch, write_project
from lamina_compute_batch.plugin import BatchComputeOptions

from lamina.config.options import OptionError, build_options
from lamina.errors import BackendUnreachableError
from lamina.flow.loader import load_flow_file
from lamina.records import Resources, TaskSpec
from lamina.stack import Stack

pytestmark = pytest.mark.slow  # a moto server takes seconds to start on this machine


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoBatch(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def failing_moto(tmp_path_factory):
    server = MotoBatch(tmp_path_factory.mktemp("moto-fail"), fail_after=1)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def run_flow(root: Path, moto: MotoBatch, *, emulate: bool, retries: int = 0, params=None, **options):
    path = write_project(root, moto, retries=retries, **options)
    stack = Stack.load("batch", cwd=path.parent, env={})
    flow = load_flow_file(path)
    try:
        if emulate:
            pods = root / "container"
            pods.mkdir(exist_ok=True)
            with ContainerEmulator(moto, pods):
                run = flow.run(stack=stack, raise_on_failure=False, **(params or {}))
        else:
            run = flow.run(stack=stack, raise_on_failure=False, **(params or {}))
    finally:
        stack.close()
    return run


def jobs_of(moto: MotoBatch, run_id: str) -> list[dict]:
    return [j for j in moto.jobs() if j["jobName"].endswith(run_id)]


def test_a_foreach_step_is_one_array_job_run_end_to_end(tmp_path, moto) -> None:
    run = run_flow(tmp_path / "p", moto, emulate=True, outcome_grace=120.0,
                   secrets={"LAMINA_DATASTORE_KEY": moto.secret_arn}, tags={"team": "churn"})
    assert run.status == "succeeded", run.record.error
    assert run["total"].value == 1 + 8 + 27
    assert "cubing 3" in run["cube"].tasks[2].stdout

    [job] = jobs_of(moto, run.id)
    assert job["arrayProperties"]["size"] == 3
    command = job["container"]["command"]
    assert command[command.index("--run") + 1] == run.id
    assert command[-8:] == ["--step", "cube", "--index", "0", "--attempt", "1",
                            "--index-env", "AWS_BATCH_JOB_ARRAY_INDEX"]
    assert job["timeout"] == {"attemptDurationSeconds": 600}
    assert job["jobQueue"].endswith(f"job-queue/{QUEUE}")

    batch = moto.client("batch")
    [definition] = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"]
    props = definition["containerProperties"]
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {"VCPU": "0.5", "MEMORY": "256"}
    assert props["secrets"] == [{"name": "LAMINA_DATASTORE_KEY", "valueFrom": moto.secret_arn}]
    assert props["jobRoleArn"] == moto.role_arn and props["executionRoleArn"] == moto.role_arn
    assert definition["retryStrategy"]["attempts"] == 3
    rule = definition["retryStrategy"]["evaluateOnExit"][0]
    assert rule["onStatusReason"] == "Host EC2*" and rule["action"].upper() == "RETRY"
    assert definition["tags"]["team"] == "churn"
    everything = json.dumps([job, definition], default=str)
    assert SECRET_VALUE not in everything  # a reference travels, never the value


def test_a_single_task_is_a_plain_job(tmp_path, moto) -> None:
    run = run_flow(tmp_path / "p", moto, emulate=True, outcome_grace=120.0, params={"n": 1})
    assert run.status == "succeeded", run.record.error
    [job] = jobs_of(moto, run.id)
    assert "arrayProperties" not in job or not job["arrayProperties"].get("size")
    assert "--index-env" not in job["container"]["command"]


def test_succeeded_without_an_outcome_record_is_a_clear_failure(tmp_path, moto) -> None:
    run = run_flow(tmp_path / "p", moto, emulate=False)
    assert run.status == "failed"
    record = run["cube"].tasks[0].record
    assert record.exit_reason == "no-outcome" and record.error_type == "NoOutcomeRecord"
    assert "succeeded, but it wrote no outcome record" in record.error
    assert "reach the same datastore" in record.error  # the fix


def test_max_in_flight_and_array_size_limit_split_the_fan_out(tmp_path, moto) -> None:
    run = run_flow(tmp_path / "p", moto, emulate=True, outcome_grace=120.0, params={"n": 5},
                   array_size_limit=2)
    assert run.status == "succeeded", run.record.error
    assert run["total"].value == sum(i ** 3 for i in range(1, 6))
    sizes = [(j.get("arrayProperties") or {}).get("size", 1) for j in jobs_of(moto, run.id)]
    assert sizes == [2, 2, 1]


def test_failed_jobs_are_retried_then_reported(tmp_path, failing_moto) -> None:
    run = run_flow(tmp_path / "p", failing_moto, emulate=False, retries=1, params={"n": 2})
    assert run.status == "failed"
    for t in run["cube"].tasks:
        record = t.record
        assert record.attempt == 2 and record.status == "failed"
        assert record.exit_reason == "engine" and "FAILED" in record.error
    attempts = sorted(j["jobName"].split("-")[3] for j in jobs_of(failing_moto, run.id))
    assert attempts == ["a1", "a2"]  # one array job per attempt


def _compute(tmp_path: Path, moto: MotoBatch, **options):
    path = write_project(tmp_path / "p", moto, **options)
    stack = Stack.load("batch", cwd=path.parent, env={})
    return stack, stack.compute_for("batch")


def _spec(stack, index: int = 0, **kw) -> TaskSpec:
    return TaskSpec(run_id="20261127T044315123-a1b2c3", flow="cubes", step="cube", index=index,
                    attempt=1, datastore_url=stack.datastore.url, **kw)


def test_job_definitions_are_idempotent_and_versioned(tmp_path, moto) -> None:
    stack, compute = _compute(tmp_path, moto, job_definition_prefix="idem")
    first = compute.job_definition_arn(_spec(stack, resources=Resources(cpu=2, memory=1024)))
    again = compute.job_definition_arn(_spec(stack, resources=Resources(cpu=2, memory=1024)))
    assert again == first
    # another process (a new compute) finds the ACTIVE revision instead of registering
    _, other = _compute(tmp_path / "other", moto, job_definition_prefix="idem")
    assert other.job_definition_arn(_spec(stack, resources=Resources(cpu=2, memory=1024))) == first
    bigger = compute.job_definition_arn(_spec(stack, resources=Resources(cpu=4, memory=1024)))
    assert bigger != first and bigger.rsplit(":", 1)[0] == first.rsplit(":", 1)[0]
    batch = moto.client("batch")
    revisions = batch.describe_job_definitions(jobDefinitionName="idem-cubes-cube")["jobDefinitions"]
    assert sorted(d["revision"] for d in revisions) == [1, 2]
    stack.close()


def test_cancel_terminates_unfinished_jobs(tmp_path, moto) -> None:
    stack, compute = _compute(tmp_path, moto, poll_interval=3600.0)
    compute.start(SimpleNamespace(artifacts=stack.artifacts, flow=None))
    for index in range(3):
        compute.submit(_spec(stack, index))
    assert compute.poll(0) == [] and compute.running() == 3
    [job_id] = list(compute._jobs)
    compute.shutdown(cancel=True)
    [job] = moto.client("batch").describe_jobs(jobs=[job_id])["jobs"]
    assert "cancelled by lamina" in job.get("statusReason", "")
    stack.close()


def test_check_describes_the_queue(tmp_path, moto) -> None:
    stack, compute = _compute(tmp_path, moto)
    assert f"job queue {QUEUE} ENABLED/VALID" in compute.check()
    stack.close()
    stack, compute = _compute(tmp_path / "missing", moto, job_queue="no-such-queue")
    with pytest.raises(BackendUnreachableError, match="no job queue 'no-such-queue'"):
        compute.check()
    stack.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"env": {"DB_PASSWORD": "hunter2"}}, "looks like a credential"),
    ({"secrets": {"KEY": "hunter2"}}, "never the value itself"),
    ({"array_size_limit": 20_000}, "2..10000"),
    ({"retry_attempts": 0}, "1..10"),
    ({"platform": "LAMBDA"}, "platform"),
])
def test_bad_options_are_refused_with_the_reason(options, message) -> None:
    with pytest.raises(OptionError) as info:
        build_options(BatchComputeOptions, {"job_queue": "q", "image": "i", **options})
    assert message in str(info.value)

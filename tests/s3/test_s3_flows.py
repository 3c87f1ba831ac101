"""Flows on an S3 stack, driven through the real CLI as a user would: the quickstart end
to end, ``lamina show`` / ``diff`` / ``get`` / ``resume`` reading back from the bucket,
concurrent runs into one bucket, and a remote task (``python -m lamina task``) that finds
the datastore from the URL and the standard AWS environment alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from blake3 import blake3
from s3_util import lamina, stack_toml

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "flow.py"
NUMBERS = REPO / "tests" / "flows" / "client_numbers.py"


def make_project(root: Path, bucket: str, endpoint: str | None, flow: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lamina.toml").write_text(stack_toml(bucket, endpoint))
    shutil.copyfile(flow, root / flow.name)
    return root


def ok(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = lamina(cwd, env, *args)
    assert proc.returncode == 0, f"lamina {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def run_ids(cwd: Path, env: dict[str, str]) -> list[str]:
    return [r["run_id"] for r in json.loads(ok(cwd, env, "runs", "--json"))]


def bucket_keys(server, bucket: str, prefix: str = "lamina/") -> list[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quickstart_end_to_end_then_show_get_resume_diff(
    tmp_path, server, bucket, aws_env
) -> None:
    project = make_project(tmp_path / "project", bucket, server.endpoint, QUICKSTART)
    first = ok(project, aws_env, "run", "flow.py")
    assert "succeeded" in first
    (run_id,) = run_ids(project, aws_env)

    # artifacts, code snapshot, logs and run records live in the bucket, not on disk
    keys = bucket_keys(server, bucket)
    assert f"lamina/runs/{run_id}/run.json" in keys
    assert any(k.startswith(f"lamina/runs/{run_id}/tasks/train/") for k in keys)
    assert sum(k.startswith("lamina/objects/") for k in keys) >= 10
    assert not (project / ".lamina" / "objects").exists()

    # readers on another machine: an empty download cache
    reader_env = {**aws_env, "LAMINA_CACHE_DIR": str(tmp_path / "reader-cache")}
    shown = ok(project, reader_env, "show", run_id)
    assert run_id in shown and "train" in shown and "succeeded" in shown
    record = json.loads(ok(project, reader_env, "show", f"{run_id}/best/0", "--json"))[0]
    ok(project, reader_env, "get", f"{run_id}/best/0", "-o", "best.bin")
    data = (project / "best.bin").read_bytes()
    assert blake3(data).hexdigest() == record["output"]["key"]
    assert list((tmp_path / "reader-cache").rglob(record["output"]["key"]))

    # resume reads the finished run's results from the bucket and reuses all of them
    out = ok(project, reader_env, "resume", run_id)
    assert f"resumed from {run_id}" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["train"].split()[2].startswith("reused")
    assert lines["best"].split()[2] == "reused"
    resumed = run_ids(project, aws_env)[0]
    diff = ok(project, reader_env, "diff", run_id, resumed)
    assert diff.startswith(f"diff {run_id} -> {resumed}")
    assert "artifacts changed" not in diff, "the same results, by content hash"


@pytest.mark.slow
def test_resume_after_a_failure_on_s3_then_diff(tmp_path, server, bucket, aws_env) -> None:
    project = make_project(tmp_path / "project", bucket, server.endpoint, NUMBERS)
    failed = lamina(project, aws_env, "run", "client_numbers.py", "--set", "fail_at=4")
    assert failed.returncode == 1
    (failed_id,) = run_ids(project, aws_env)
    out = ok(project, aws_env, "resume", failed_id, "--set", "fail_at=-1")
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["numbers"].split()[2] == "reused"
    assert lines["total"].split()[2] == "succeeded"
    latest = run_ids(project, aws_env)[0]
    shown = json.loads(ok(project, aws_env, "show", f"{latest}/total/0", "--json"))[0]
    assert shown["status"] == "succeeded"
    diff = ok(project, {**aws_env, "LAMINA_CACHE_DIR": str(tmp_path / "c2")}, "diff",
              failed_id, latest)
    assert "fail_at: 4 -> -1" in diff
    assert "artifacts changed (by content hash):" in diff and "square[1]" in diff


@pytest.mark.slow
def test_two_runs_into_one_bucket_at_once_both_succeed(tmp_path, server, bucket,
                                                       aws_env) -> None:
    # two projects (two machines, say) share the bucket; their runs share artifacts
    projects = [
        make_project(tmp_path / f"p{i}", bucket, server.endpoint, NUMBERS) for i in range(2)
    ]
    procs = [
        subprocess.Popen([sys.executable, "-m", "lamina", "run", "client_numbers.py",
                          "--set", f"n={3 + i}"], cwd=p, env=aws_env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i, p in enumerate(projects)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"{out}\n{err}"
    ids = [run_ids(p, aws_env)[0] for p in projects]
    keys = bucket_keys(server, bucket)
    for run_id in ids:
        assert f"lamina/runs/{run_id}/run.json" in keys
    totals = [json.loads(ok(p, aws_env, "show", f"{r}/total/0", "--json"))[0]
              for p, r in zip(projects, ids, strict=True)]
    assert [t["status"] for t in totals] == ["succeeded", "succeeded"]


@pytest.mark.slow
@pytest.mark.parametrize("endpoint_from", ["environment", "url"])
def test_a_remote_task_finds_the_datastore_from_its_url(
    tmp_path, server, bucket, aws_env, endpoint_from
) -> None:
    in_config = server.endpoint if endpoint_from == "url" else None
    launch_env = dict(aws_env)
    if in_config is None:
        launch_env["AWS_ENDPOINT_URL"] = server.endpoint
    project = make_project(tmp_path / "project", bucket, in_config, NUMBERS)
    ok(project, launch_env, "run", "client_numbers.py")
    (run_id,) = run_ids(project, launch_env)
    url = json.loads(ok(project, launch_env, "show", run_id, "--json"))["datastore_url"]
    expected = f"s3://{bucket}/lamina" + (f"?endpoint_url={server.endpoint}" if in_config else "")
    assert url == expected

    task_key = f"lamina/runs/{run_id}/tasks/square/1.json"
    before = json.loads(server.client().get_object(Bucket=bucket, Key=task_key)["Body"].read())
    server.client().delete_object(Bucket=bucket, Key=task_key)

    # the task runs elsewhere: no config file, an empty cache, only the AWS environment
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    task_env = {**launch_env, "LAMINA_CACHE_DIR": str(tmp_path / "remote-cache"),
                "TMPDIR": str(tmp_path)}
    proc = lamina(elsewhere, task_env, "task", "--datastore", url, "--run", run_id,
                  "--step", "square", "--index", "1")
    assert proc.returncode == 0, proc.stderr
    after = json.loads(server.client().get_object(Bucket=bucket, Key=task_key)["Body"].read())
    assert after["status"] == "succeeded" and after["output"] == before["output"]


def test_stack_check_reaches_the_bucket(tmp_path, server, bucket, aws_env) -> None:
    project = make_project(tmp_path / "project", bucket, server.endpoint, NUMBERS)
    out = ok(project, aws_env, "stack", "check")
    assert f"s3://{bucket}/lamina" in out and "reachable and writable" in out


def test_stack_check_says_the_bucket_is_missing(tmp_path, server, aws_env) -> None:
    project = make_project(tmp_path / "project", "no-such-bucket-here", server.endpoint,
                           NUMBERS)
    proc = lamina(project, aws_env, "stack", "check")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "bucket 'no-such-bucket-here' does not exist" in text
    assert "aws s3 mb s3://no-such-bucket-here" in text

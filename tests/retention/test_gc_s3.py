"""``lamina gc`` on a real S3 server (SeaweedFS): kept runs load and resume, what goes
goes, a flow running during gc keeps everything it uses, and an object collected a moment
before a writer reuses it comes back from the trash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gc_util import FLOW, check_all_load, check_run_loads, flow_of, stack_of
from s3_util import clean_aws_env

from lamina import Client
from lamina.errors import LaminaError, RunFailedError
from lamina.retention import collect


def s3_project(root: Path, server: Any, bucket: str, retention: str, **options: Any) -> Path:
    root.mkdir(parents=True)
    (root / "flow.py").write_text(FLOW)
    items = {"plugin": "s3", "url": f"s3://{bucket}/lamina", "endpoint_url": server.endpoint,
             "touch_after": 0, **options}
    body = ", ".join(f"{k} = {json.dumps(v)}" for k, v in items.items())
    (root / "lamina.toml").write_text(
        f'default_stack = "s3"\n[stacks.s3]\ndatastore = {{ {body} }}\n'
        f"[stacks.s3.retention]\n{retention}\n")
    return root


@pytest.fixture
def s3_env(tmp_path: Path, seaweedfs: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {**clean_aws_env(tmp_path), **seaweedfs.env()}
    for key in list(os.environ):
        if key.startswith(("AWS_", "LAMINA_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def listed(stack: Any) -> set[str]:
    return {k.rsplit("/", 1)[-1] for k, _, _ in stack.datastore.scan("objects")}


def test_gc_on_s3_deletes_what_goes_and_kept_runs_load_and_resume(
    tmp_path: Path, seaweedfs: Any, s3_env: dict[str, str]
) -> None:
    root = s3_project(tmp_path / "p", seaweedfs, seaweedfs.make_bucket(),
                      'keep_last = 1\nkeep_last_per_branch = 0\nkeep_newer_than = ""\n'
                      'grace = "1h"')
    stack, flow = stack_of(root), flow_of(root)
    tagged = flow.run(stack=stack, tag="t", tags=["keep"])
    old = flow.run(stack=stack, tag="old")
    flag = root / "broken.flag"
    flag.write_text("bug")
    with pytest.raises(RunFailedError) as info:
        flow.run(stack=stack, tag="f", flag=str(flag))
    failed = info.value.run
    mine = {t.ref.key for t in old.tasks() if t.status == "succeeded"}
    others = {t.ref.key for r in (tagged, failed) for t in r.tasks() if t.status == "succeeded"}
    assert mine - others
    time.sleep(1.1)  # S3 times are whole seconds: the objects are older than "now"
    report = collect(stack, grace=0)
    assert [r[0] for r in report.runs_deleted] == [old.id]
    assert not (mine - others) & listed(stack)
    assert others <= listed(stack)
    os.environ["LAMINA_CACHE_DIR"] = str(tmp_path / "fresh-cache")  # read from S3, not a cache
    fresh = stack_of(root)
    assert sorted(check_all_load(fresh)) == sorted([tagged.id, failed.id])
    flag.unlink()
    resumed = Client(fresh, namespace=None).run(failed.id).resume(stack=fresh)
    assert resumed.status == "succeeded" and check_run_loads(resumed) == 7


def test_a_flow_running_during_gc_on_s3(
    tmp_path: Path, seaweedfs: Any, s3_env: dict[str, str]
) -> None:
    root = s3_project(tmp_path / "p", seaweedfs, seaweedfs.make_bucket(),
                      'keep_last = 0\nkeep_last_per_branch = 0\nkeep_newer_than = ""\n'
                      'grace = "4s"')
    stack, flow = stack_of(root), flow_of(root)
    old = flow.run(stack=stack, n=16, tag="old")
    time.sleep(5)  # the old run's objects are now older than the grace period
    live = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", "flow.py", "--set", "n=16", "--set",
         "pause=0.2", "--set", "tag=live", "--tag", "keep"],
        cwd=root, env={**s3_env, "NO_COLOR": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not any("/tasks/work/" in k for k, _, _ in stack.datastore.scan("runs")
                  if not k.startswith(f"runs/{old.id}/")):
        assert live.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.1)

    def slow(line: str) -> None:
        if line.startswith("sweeping"):
            time.sleep(1.5)

    first = collect(stack_of(root), progress=slow)
    assert [r[0] for r in first.runs_deleted] == [old.id] and first.objects_deleted > 0
    while live.poll() is None:
        collect(stack_of(root))
    out = live.stdout.read() if live.stdout else ""
    assert live.returncode == 0, out
    os.environ["LAMINA_CACHE_DIR"] = str(tmp_path / "fresh-cache")
    (new,) = Client(stack_of(root), namespace=None).runs("gcflow")
    assert check_run_loads(new) == 1 + 1 + 16 + 1


def test_an_object_collected_as_a_writer_reuses_it_comes_back_from_the_trash(
    tmp_path: Path, seaweedfs: Any, s3_env: dict[str, str]
) -> None:
    root = s3_project(tmp_path / "p", seaweedfs, seaweedfs.make_bucket(), "")
    datastore = stack_of(root).datastore
    staged = tmp_path / "staged"
    staged.write_bytes(b"collected, then reused")
    from lamina.datastore.hashing import bytes_digest

    key = bytes_digest(b"collected, then reused")
    datastore.commit_blob(str(staged), key)
    assert datastore.delete_blob(key, older_than=time.time() + 60) == 22
    assert key not in listed(stack_of(root))
    assert datastore.touch_blob(key) is True, "restored for the writer that reuses it"
    assert key in listed(stack_of(root))
    assert datastore.delete_blob(key, older_than=time.time() + 60) == 22
    assert datastore.purge_trash(time.time() + 60) == 1
    assert datastore.touch_blob(key) is False, "gone for good once the trash is emptied"


def test_a_grace_shorter_than_the_touch_interval_is_refused(
    tmp_path: Path, seaweedfs: Any, s3_env: dict[str, str]
) -> None:
    root = s3_project(tmp_path / "p", seaweedfs, seaweedfs.make_bucket(), 'grace = "10m"',
                      touch_after=600)
    with pytest.raises(LaminaError, match="grace period of 600 s is too short") as info:
        collect(stack_of(root))
    assert "at least 1200 s" in (info.value.hint or "")

"""An S3 outage in the middle of a run (a SeaweedFS server of the test's own, killed while a
step runs): the run fails within the datastore's retry budget with one error on stderr (no
worker traceback), a run summary, and the cause in `lamina show`; once the server is back,
`lamina resume` completes the run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3_util import SeaweedServer, clean_aws_env, lamina, stack_toml

pytestmark = pytest.mark.slow

FLOW = '''
import time
from pathlib import Path

from lamina import Flow

flow = Flow("outage")


@flow.step
def first() -> int:
    return 1


@flow.step
def items(first: int) -> list:
    Path("started").write_text("x")
    while not Path("go").exists():  # the test kills the server meanwhile
        time.sleep(0.05)
    return [1, 2, 3]


@flow.step(foreach="items")
def fit(items: int) -> int:
    return items * 2
'''


def test_an_s3_outage_mid_run_fails_clearly_and_resume_completes(tmp_path: Path) -> None:
    server = SeaweedServer(tmp_path / "weed")  # ours alone: killed and restarted here
    server.start()
    try:
        bucket = server.make_bucket()
        root = tmp_path / "project"
        root.mkdir()
        (root / "lamina.toml").write_text(stack_toml(
            bucket, server.endpoint, retries=2, connect_timeout=1.0, read_timeout=2.0))
        (root / "flow.py").write_text(FLOW)
        env = clean_aws_env(tmp_path)
        env.update(server.env())
        run = subprocess.Popen(
            [sys.executable, "-m", "lamina", "run", "flow.py", "--stack", "s3"],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 120
        while not (root / "started").exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        server.kill()
        (root / "go").write_text("now")
        out, err = run.communicate(timeout=300)

        assert run.returncode == 1
        assert "Traceback" not in err and "ForkProcess" not in err
        assert err.count("lamina: error:") == 1 and err.splitlines()[0].startswith("lamina: error:")
        assert "cannot be reached after 2 attempts" in err  # the configured retry budget
        assert "flow outage  failed" in out and "first  1      succeeded" in out  # the summary
        run_id = out.split()[1]

        server.start()  # back, on the same data
        shown = lamina(root, env, "show", run_id, "--stack", "s3")
        assert shown.returncode == 0, shown.stderr
        assert "run failed: S3DatastoreError" in shown.stdout
        assert "cannot be reached after 2 attempts" in shown.stdout
        assert "fix the cause, then: lamina resume" in shown.stdout

        resumed = lamina(root, env, "resume", run_id, "--stack", "s3")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        listed = lamina(root, env, "runs", "--stack", "s3", "--json")
        records = json.loads(listed.stdout)
        assert records[0]["status"] == "succeeded" and records[0]["resumed_from"] == run_id
    finally:
        server.stop()

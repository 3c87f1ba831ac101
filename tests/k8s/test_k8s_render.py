"""`lamina render`: the exact Jobs (k8s) and requests (AWS Batch) a flow's tasks would be
submitted as, without a cluster or an AWS account; the Jobs validate strictly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lamina import load_stack
from lamina.deploy import render_tasks
from lamina.errors import LaminaError

FLOW = '''
from lamina import Flow

flow = Flow("shop")


@flow.step
def regions() -> list[str]:
    return ["eu", "us"]


@flow.step(foreach="regions", cpu=2, memory=1024, timeout=60)
def sales(regions: str) -> float:
    return 1.0
'''

TOML = '''
[stacks.k8s]
datastore = { plugin = "s3", url = "s3://ml/lamina" }
compute = { plugin = "k8s", image = "registry/ml:7", namespace = "ml", env_from_secrets = ["s3-creds"], node_selector = { pool = "cpu" } }

[stacks.batch]
datastore = { plugin = "s3", url = "s3://ml/lamina" }
compute = { plugin = "batch", image = "registry/ml:7", job_queue = "ml-queue" }

[stacks.here]
datastore = "file://.lamina"
'''


def _docs(text: str) -> list[dict]:
    return [json.loads(part) for part in text.split("---\n") if part.strip()]


def test_render_prints_the_jobs_of_the_k8s_compute(project: Path) -> None:
    (project / "lamina.toml").write_text(TOML)
    (project / "flow.py").write_text(FLOW)
    done = subprocess.run([sys.executable, "-m", "lamina", "render", "flow.py", "--stack", "k8s"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    jobs = _docs(done.stdout)
    assert [j["kind"] for j in jobs] == ["Job", "Job"]
    sales = jobs[1]["spec"]["template"]["spec"]
    [container] = sales["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert sales["nodeSelector"] == {"pool": "cpu"} and sales["activeDeadlineSeconds"] == 60
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "1024Mi"}
    assert container["command"][3:5] == ["task", "--datastore-spec"]
    (project / "jobs.yaml").write_text(done.stdout)
    cli = Path(sys.executable).with_name("kubernetes-validate")
    checked = subprocess.run([str(cli), "--strict", "-k", "1.31.0", "jobs.yaml"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passed") == 2


def test_render_prints_the_batch_requests_and_refuses_local_compute(project: Path) -> None:
    (project / "lamina.toml").write_text(TOML)
    (project / "flow.py").write_text(FLOW)
    requests = _docs(render_tasks("flow.py", stack=load_stack("batch")))
    assert [r["request"] for r in requests] == ["RegisterJobDefinition", "SubmitJob"] * 2
    submit = requests[3]
    assert submit["jobQueue"] == "ml-queue" and submit["jobDefinition"] == "lamina-shop-sales"
    assert submit["timeout"] == {"attemptDurationSeconds": 60}
    with pytest.raises(LaminaError, match="submits nothing to render") as err:
        render_tasks("flow.py", stack=load_stack("here"))
    assert "--stack prod" in str(err.value)

"""A live serving deployment keeps the run of every model it serves: gc leaves that run
and its objects, and the deployment keeps answering."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

from envs_util import free_port
from gc_util import check_all_load
from serving_util import infer_body, train

from lamina.retention import collect, why_kept
from lamina.serving import deploy_from_file
from lamina.serving.deployment import serving_backend
from lamina.stack import Stack


def test_a_served_model_keeps_its_run(tmp_path: Path) -> None:
    project = tmp_path / "p"
    served, other = train(project)  # two runs of the iris flow: the older one is served
    with open(project / "lamina.toml", "a") as f:
        f.write('[stacks.default]\ndatastore = ".lamina"\n[stacks.default.retention]\n'
                'keep_last = 0\nkeep_last_per_branch = 0\nkeep_newer_than = ""\n'
                'grace = "0s"\n')
    port = free_port()
    spec = project / "deploy.toml"
    spec.write_text(f'name = "iris-kept"\nport = {port}\n'
                    f'[[variants]]\nname = "only"\nmodel = "{served}"\nweight = 100\n')
    stack = Stack.load(cwd=project, env={})
    url = deploy_from_file(spec, stack)
    try:
        served_run, other_run = served.split("/")[1], other.split("/")[1]
        assert why_kept(stack, served_run) == (
            f"the model of serving deployment 'iris-kept' ({served})")
        report = collect(Stack.load(cwd=project, env={}))
        assert [r[0] for r in report.runs_deleted] == [other_run]
        assert check_all_load(stack) == [served_run]
        answer = httpx.post(f"{url}/infer", json=infer_body([[5.1, 3.5, 1.4, 0.2]]))
        assert answer.status_code == 200
    finally:
        serving_backend(stack).undeploy("iris-kept")

"""The same deployment spec deployed for production and for alice's branch: two local
deployments answering side by side over HTTP, each with its own prediction log, each
stamped with who deployed it and when."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serving_util import clean_env, infer_body

from lamina.serving import read_prediction_log
from lamina.serving.deployment import serving_backend
from lamina.stack import Stack

pytestmark = pytest.mark.slow


def _lamina(project: Path, user: str, *args: str) -> str:
    env = clean_env()
    env["LAMINA_USER"] = user
    done = subprocess.run([sys.executable, "-m", "lamina", *args, "--config", "teams.toml"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_two_branches_serve_side_by_side_with_their_own_logs(trained) -> None:
    project, ref_a, _ = trained
    # the model was trained by another user: this team trusts its members' runs
    (project / "teams.toml").write_text(
        'project = "iris"\n[stacks.local]\ntrusted_namespaces = ["user:*"]\n')
    spec = project / "branches.toml"
    spec.write_text(f'name = "clf"\n[[variants]]\nname = "main"\nmodel = "{ref_a}"\n')
    out = _lamina(project, "bob", "deploy", spec.name, "--production")
    assert "/v2/models/iris-prod-clf" in out
    assert "production branch of project iris, deployed by bob at" in out
    _lamina(project, "alice", "deploy", spec.name)  # alice's own branch, by default

    stack = Stack.load(config_file=project / "teams.toml", env={})
    running = {d["name"]: d for d in serving_backend(stack).list_deployments()}
    try:
        assert {"iris-prod-clf", "iris-alice-clf"} <= set(running)
        prod, alice = running["iris-prod-clf"], running["iris-alice-clf"]
        assert prod["port"] != alice["port"]
        stamp = prod["deployment"]["deployed"]
        assert stamp["deployed_by"] == "bob" and stamp["production"] is True
        assert alice["deployment"]["deployed"]["namespace"] == "project:iris/branch:alice"
        for i in range(6):  # interleaved: both answer at once
            for who, d in (("p", prod), ("a", alice)):
                r = httpx.post(f"{d['url']}/infer",
                               json=infer_body([[5.1, 3.5, 1.4, 0.2]], id=f"{who}{i}"))
                assert r.status_code == 200, r.text
                assert r.json()["model_name"] == d["name"]
    finally:
        _lamina(project, "bob", "serve", "--stop", "clf", "--production")
        _lamina(project, "alice", "serve", "--stop", "clf")
    assert not {"iris-prod-clf", "iris-alice-clf"} & {
        d["name"] for d in serving_backend(stack).list_deployments()}
    prod_log = read_prediction_log(stack, "iris-prod-clf")
    alice_log = read_prediction_log(stack, "iris-alice-clf")
    assert sorted(prod_log["request_id"].to_pylist()) == [f"p{i}" for i in range(6)]
    assert sorted(alice_log["request_id"].to_pylist()) == [f"a{i}" for i in range(6)]
    assert read_prediction_log(stack, "clf").num_rows == 0  # nothing under the bare name

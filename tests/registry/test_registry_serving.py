"""``model:NAME@ALIAS`` in a deployment spec: resolved at deploy time, recorded, served by
the local server over real HTTP; ``lamina ab decide`` promotes the winner's version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import numpy as np
import pytest
from envs_util import free_port

from lamina import registry
from lamina.serving import deploy_from_file, log_outcomes, read_prediction_log
from lamina.serving.deployment import pin_models, serving_backend
from lamina.serving.experiment import decisions, record_design
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.spec import Deployment, Variant
from lamina.stack import Stack

pytestmark = pytest.mark.slow


def _rows(*rows: tuple[float, float, float]) -> dict[str, Any]:
    cols = list(zip(*rows, strict=True))
    return {"inputs": [{"name": n, "datatype": "FP64", "shape": [len(rows)], "data": list(c)}
                       for n, c in zip(("tenure", "spend", "calls"), cols, strict=True)]}


def test_an_alias_is_resolved_at_deploy_time_recorded_and_served(trained: Any) -> None:
    project = trained.project
    stack = Stack.load(cwd=project, env={})
    v1 = registry.register_model("served", trained.refs["good"], stack=stack)
    registry.register_model("served", trained.refs["flipped"], stack=stack)
    registry.promote("served", v1.version, "champion", reason="first", stack=stack)
    port = free_port()
    spec = project / "served.toml"
    spec.write_text(f'name = "served"\nport = {port}\n[[variants]]\nname = "main"\n'
                    'model = "model:served@champion"\n')
    url = deploy_from_file(spec, stack)
    backend = serving_backend(stack)
    try:
        # the alias moves after the deployment: what runs does not change
        registry.promote("served", 2, "champion", reason="later", stack=stack)
        answer = httpx.post(f"{url}/infer", json=_rows((1.0, 50.0, 6.0), (9.0, 50.0, 0.0)),
                            timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [1, 0]  # the good model, version 1
        (running,) = backend.list_deployments()
        pinned = running["deployment"]["deployed"]["models"]["main"]
        assert (pinned["ref"], pinned["name"], pinned["version"], pinned["resolved"]) == (
            "model:served@champion", "served", 1, trained.refs["good"])
        assert running["deployment"]["variants"][0]["model"] == trained.refs["good"]
    finally:
        backend.undeploy("served")
    log = read_prediction_log(stack, "served")
    assert set(log["model"].to_pylist()) == {trained.refs["good"]}  # the resolved version


def test_ab_decide_promotes_the_winners_registered_version(trained: Any) -> None:
    project = trained.project
    stack = Stack.load(cwd=project, env={})
    a = registry.register_model("abm", trained.refs["good"], stack=stack)
    b = registry.register_model("abm", trained.refs["good"], stack=stack)
    registry.promote("abm", a.version, "champion", reason="baseline", stack=stack)
    deployment = pin_models(Deployment("abx", (Variant("a", "model:abm@champion", 50.0),
                                               Variant("b", f"model:abm/{b.version}", 50.0))),
                            stack)
    record_design(stack.datastore, deployment)  # what the server records at start
    rng = np.random.default_rng(3)
    from lamina.serving.schema import Field, Schema

    writer = PredictionLogWriter(stack.datastore, "abx", [Schema([Field("x", "FP64")],
                                                                 [Field("y", "FP64")])],
                                 flush_seconds=60)
    start = time.time_ns() // 1000 - 3 * 86_400_000_000
    outcomes: dict[str, float] = {}
    for variant, rate in (("a", 0.10), ("b", 0.16)):
        for i in range(3000):
            rid = f"{variant}-{i}"
            writer.record(rid, start + int(rng.integers(0, 3 * 86_400_000_000)), variant,
                          deployment.variants[0 if variant == "a" else 1].model, 2.0, 200, 1,
                          {"x": np.array([1.0])}, {"y": np.array([0.0])}, key=f"u-{rid}")
            outcomes[rid] = float(rng.random() < rate)
    writer.close()
    log_outcomes(stack, "abx", outcomes)
    env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
    done = subprocess.run([sys.executable, "-m", "lamina", "ab", "decide", "abx", "--json",
                           "--reason", "b converts better"], cwd=project, text=True,
                          capture_output=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["action"] == "ship" and decision["variant"] == "b"
    assert decision["promoted"] == {"name": "abm", "version": b.version, "alias": "champion",
                                    "previous": a.version, "forced": False}
    assert registry.resolve("model:abm@champion", stack=stack).version == b.version
    last = registry.history("abm", stack=stack)[-1]
    assert last.reason == "A/B abx: b shipped (b converts better)"
    assert decisions(stack.datastore, "abx")[-1]["promoted"]["version"] == b.version

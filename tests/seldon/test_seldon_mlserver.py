"""MLServer itself (its own environment) serves a lamina-trained model with the lamina runtime."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest
from envs_util import free_port, stop_process, wait_for_port
from lamina_serving_seldon.resources import model_settings
from seldon_util import mlserver_python

from lamina.serving import resolve_model
from lamina.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlserver(iris_project, tmp_path_factory):
    project, ref = iris_project
    python = mlserver_python()
    loaded = resolve_model(Stack.load(cwd=project, env={}), ref)
    repo = tmp_path_factory.mktemp("mlserver-repo")
    (repo / "iris").mkdir()
    (repo / "iris" / "model-settings.json").write_text(json.dumps(
        model_settings("iris", str(project / ".lamina"), loaded.artifact.to_dict(), loaded.ref)))
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    (repo / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
        "metrics_port": metrics_port, "parallel_workers": 0,
    }))
    log = open(repo / "mlserver.log", "w")  # noqa: SIM115 (open for the server's lifetime)
    proc = subprocess.Popen([str(python.parent / "mlserver"), "start", str(repo)], cwd=repo,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(http_port, process=proc, timeout=240)
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{base}/v2/models/iris/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((repo / "mlserver.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, loaded
    finally:
        stop_process(proc, timeout=30)
        log.close()


def test_mlserver_answers_a_v2_request_with_the_lamina_runtime(mlserver) -> None:
    base, loaded = mlserver
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    r = httpx.post(f"{base}/v2/models/iris/infer", timeout=30, json={
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 4],
                    "data": [x for row in rows for x in row]}]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out == [{"name": "species", "shape": [2], "datatype": "INT64",
                    "data": loaded.model.obj.predict(rows).tolist()}]
    assert r.json()["parameters"]["model"] == loaded.ref


def test_mlserver_rejects_a_bad_payload_with_400_naming_the_field(mlserver) -> None:
    base, _ = mlserver
    r = httpx.post(f"{base}/v2/models/iris/infer", timeout=30, json={
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]})
    assert r.status_code == 400
    assert "input 'input-0'" in r.json()["error"] and "the model takes 4" in r.json()["error"]

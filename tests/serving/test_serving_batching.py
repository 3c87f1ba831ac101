"""Adaptive batching on a real server: concurrent HTTP requests share predict calls, each
client gets its own rows back, and a bad request is answered alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_util import Server, lamina

from lamina.serving import Batching, Deployment, load_spec, read_prediction_log
from lamina.serving.errors import DeploymentError
from lamina.stack import Stack

pytestmark = pytest.mark.slow

#: A model with a cost per call (a sleep, like a remote call or a GPU launch) that records
#: how many rows each call got, in the file $BATCH_LOG.
FLOW = '''
from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("percall")


def predict(X):
    import os
    import time

    time.sleep(0.05)
    if (X[:, 0] < 0).any():
        raise ValueError("a negative first input")  # the schema allows it, the model not
    with open(os.environ["BATCH_LOG"], "a") as out:
        out.write(f"{len(X)}\\n")
    return X[:, 0] * 2 + X[:, 1]


@flow.step
def model():
    import numpy as np

    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    return Model(predict=predict, schema=Schema.infer(X, predict_example(X)))


def predict_example(X):
    return X[:, 0] * 2 + X[:, 1]
'''


def _body(i: int) -> dict[str, Any]:
    return {"id": f"r{i}", "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 2],
                                       "data": [float(i), 1000.0 + i]}]}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("batching")
    (folder / "flow.py").write_text(FLOW)
    (folder / "batches.txt").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BATCH_LOG", str(folder / "batches.txt"))  # the servers' environment
        lamina(folder, "run", "flow.py")
        yield folder


def _fire(base: str, bodies: list[Any]) -> list[httpx.Response]:
    """Send every body at once, each from its own thread and connection."""
    start = threading.Barrier(len(bodies))
    answers: list[Any] = [None] * len(bodies)

    def one(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            start.wait()
            answers[i] = client.post(f"{base}/v2/models/percall/infer", json=bodies[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows(project: Path) -> None:
    log = project / "batches.txt"
    log.write_text("")
    server = Server(project, ["percall/latest/model", "--max-batch-size", "8",
                              "--max-batch-wait-ms", "20"])
    try:
        good = list(range(24))
        bodies: list[Any] = [_body(i) for i in good]
        # bad requests, sent with the good ones: refused alone, before any batch; a value
        # the model fails on fails its own request only
        bodies += [
            {"id": "model-fails", "inputs": [{"name": "input-0", "datatype": "FP64",
                                              "shape": [1, 2], "data": [-1.0, 1.0]}]},
            {"id": "bad-type", "inputs": [{"name": "input-0", "datatype": "FP64",
                                           "shape": [1, 2], "data": ["x", 1.0]}]},
            {"id": "bad-shape", "inputs": [{"name": "input-0", "datatype": "FP64",
                                            "shape": [1, 3], "data": [1.0, 2.0, 3.0]}]},
        ]
        answers = _fire(server.base, bodies)
        for i in good:
            resp = answers[i]
            assert resp.status_code == 200, resp.text
            out = resp.json()
            assert out["id"] == f"r{i}"
            assert out["outputs"][0]["shape"] == [1]
            assert out["outputs"][0]["data"] == [2.0 * i + 1000.0 + i]
        failed = answers[len(good)]
        assert failed.status_code == 500 and "a negative first input" in failed.json()["error"]
        assert answers[-2].status_code == 400 and answers[-2].json()["field"] == "input-0"
        assert "data[0] is a string" in answers[-2].json()["error"]
        assert answers[-1].status_code == 400 and "[N, 2]" in answers[-1].json()["error"]
        sizes = [int(x) for x in log.read_text().split()]
        assert sum(sizes) == len(good)  # every good row predicted once, no bad one
        assert max(sizes) > 1 and max(sizes) <= 8 and len(sizes) < len(good)
        metrics = httpx.get(f"{server.base}/metrics").text
        assert "lamina_batch_size_count" in metrics
    finally:
        server.stop()
    # the prediction log holds each request with its own row
    table = read_prediction_log(Stack.load(cwd=project, env={}), "percall")
    rows = {r["request_id"]: r for r in table.to_pylist()}
    for i in good:
        assert rows[f"r{i}"]["out.predict"] == 2.0 * i + 1000.0 + i
        assert rows[f"r{i}"]["in.f0"] == float(i)
    assert rows["bad-type"]["status"] == 400
    assert rows["model-fails"]["status"] == 500


def test_without_batching_every_request_is_its_own_call(project: Path) -> None:
    log = project / "batches.txt"
    log.write_text("")
    server = Server(project, ["percall/latest/model"])
    try:
        answers = _fire(server.base, [_body(i) for i in range(6)])
        assert all(a.status_code == 200 for a in answers)
    finally:
        server.stop()
    assert [int(x) for x in log.read_text().split()] == [1] * 6


def test_batching_options_are_checked_with_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "dep.toml"
    spec.write_text('name = "m"\n[[variants]]\nmodel = "f/latest/model"\n'
                    "[batching]\nmax_batch_size = 16\nmax_batch_wait_ms = 2\n")
    assert load_spec(spec).batching == Batching(16, 2)
    assert not Deployment.from_dict({"name": "m", "variants": [{"model": "f"}]}).batching.enabled
    spec.write_text('name = "m"\n[[variants]]\nmodel = "f"\n[batching]\nmax_batch = 16\n')
    with pytest.raises(DeploymentError, match="batching: unknown key 'max_batch'"):
        load_spec(spec)
    with pytest.raises(DeploymentError, match="max_batch_size must be a whole number"):
        Batching(0)
    with pytest.raises(DeploymentError, match="max_batch_wait_ms"):
        Batching(4, -1)

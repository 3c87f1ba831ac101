"""The local V2 server as a subprocess, answering real HTTP requests from this process."""

from __future__ import annotations

import collections
from pathlib import Path

import httpx
import pytest
from serving_util import Server, infer_body

from lamina.serving import ab_report, read_outcomes, read_prediction_log
from lamina.serving.experiment import latest_design
from lamina.stack import Stack

pytestmark = pytest.mark.slow

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture(scope="module")
def single(trained: tuple[Path, str, str]):
    project, ref_a, _ = trained
    server = Server(project, [ref_a, "--name", "iris-single"])
    yield server, project, ref_a
    server.stop()


def test_health_metadata_and_infer_answer_like_the_model(single) -> None:
    server, project, ref = single
    with httpx.Client(base_url=server.base) as http:
        assert http.get("/v2/health/live").json() == {"live": True}
        assert http.get("/v2/health/ready").status_code == 200
        assert http.get("/v2").json()["name"] == "lamina"
        meta = http.get("/v2/models/iris-single").json()
        assert [i["name"] for i in meta["inputs"]] == [
            "sepal_length", "sepal_width", "petal_length", "petal_width"]
        assert meta["outputs"] == [{"name": "species", "datatype": "INT64", "shape": [-1]}]
        assert http.get("/v2/models/iris-single/ready").status_code == 200
        r = http.post("/v2/models/iris-single/infer", json=infer_body(ROWS, id="req-1"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["lamina-variant"] == "default"
        assert r.headers["lamina-model"] == ref
        assert body["id"] == "req-1" and body["model_name"] == "iris-single"
    # the same answer as the trained model itself
    from lamina.serving import resolve_model

    model = resolve_model(Stack.load(cwd=project, env={}), ref).model
    expected = model.obj.predict(ROWS).tolist()
    assert body["outputs"] == [{"name": "species", "datatype": "INT64", "shape": [3],
                                "data": expected}]


def test_one_tensor_per_feature_is_accepted(single) -> None:
    server, _, _ = single
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    inputs = [{"name": n, "datatype": "FP32" if i == 0 else "FP64", "shape": [2],
               "data": [ROWS[0][i], ROWS[1][i]]} for i, n in enumerate(names)]
    r = httpx.post(f"{server.base}/v2/models/iris-single/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [2]


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 3],
                      "data": [1, 2, 3]}]}, "input-0", "the model takes 4"),
        ({"inputs": [{"name": "input-0", "datatype": "BYTES", "shape": [1, 4],
                      "data": ["a", "b", "c", "d"]}]}, "input-0", "BYTES"),
        ({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 4],
                      "data": [1, 2, 3, 4]}]}, "input-0", "holds 8 values"),
        ({"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [1]}]},
         "sepal_width", "missing"),
        ({"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": ["x"]},
                     {"name": "sepal_width", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_length", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_width", "datatype": "FP64", "shape": [1], "data": [1]}]},
         "sepal_length", "FP64 takes numbers"),
        ({"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [2], "data": [1, 2]},
                     {"name": "sepal_width", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_length", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_width", "datatype": "FP64", "shape": [1], "data": [1]}]},
         "sepal_width", "rows"),
        ({"inputs": [{"name": "colour", "datatype": "FP64", "shape": [1], "data": [1]}]},
         "colour", "not an input"),
        ({"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "sepal_width", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_length", "datatype": "FP64", "shape": [1], "data": [1]},
                     {"name": "petal_width", "datatype": "FP64", "shape": [1, 4],
                      "data": [1, 2, 3, 4]}]}, "petal_width", "does not match"),
        ({"inputs": []}, "inputs", "non-empty"),
        ({"nothing": 1}, "inputs", "non-empty"),
        ({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4],
                      "data": [1, 2, 3, 4]}], "outputs": [{"name": "proba"}]}, "outputs", "proba"),
    ],
)
def test_bad_payloads_get_400_naming_the_field(single, payload, field, words) -> None:
    server, _, _ = single
    r = httpx.post(f"{server.base}/v2/models/iris-single/infer", json=payload)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == field
    assert field in body["error"] or field == "inputs"
    assert words in body["error"]


def test_not_json_and_unknown_routes(single) -> None:
    server, _, _ = single
    r = httpx.post(f"{server.base}/v2/models/iris-single/infer", content=b"{not json")
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = httpx.post(f"{server.base}/v2/models/other/infer", json=infer_body(ROWS))
    assert r.status_code == 404 and r.json()["models"] == ["iris-single"]
    assert httpx.get(f"{server.base}/v2/models/iris-single/infer").status_code == 405
    pinned = httpx.post(f"{server.base}/v2/models/iris-single/versions/default/infer",
                        json=infer_body(ROWS))
    assert pinned.status_code == 200 and pinned.headers["lamina-variant"] == "default"
    r = httpx.post(f"{server.base}/v2/models/iris-single/versions/zzz/infer", json=infer_body(ROWS))
    assert r.status_code == 404 and r.json()["versions"] == ["default"]
    assert httpx.get(f"{server.base}/nowhere").status_code == 404


def test_metrics_count_requests_per_variant_and_status(single) -> None:
    server, _, _ = single
    with httpx.Client(base_url=server.base) as http:
        before = http.get("/metrics").text
        for _ in range(3):
            http.post("/v2/models/iris-single/infer", json=infer_body(ROWS[:1]))
        http.post("/v2/models/iris-single/infer", json={"inputs": []})
        text = http.get("/metrics").text

    def value(body: str, line_start: str) -> float:
        for line in body.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    ok = 'lamina_requests_total{deployment="iris-single",status="200",variant="default"}'
    bad = 'lamina_requests_total{deployment="iris-single",status="400",variant="default"}'
    assert value(text, ok) - value(before, ok) == 3
    assert value(text, bad) - value(before, bad) == 1
    assert 'lamina_request_latency_seconds_bucket{deployment="iris-single",le="0.005",variant="default"}' in text


def test_ab_split_sticky_keys_and_the_log_holds_every_request(trained) -> None:
    project, ref_a, ref_b = trained
    server = Server(project, ["--variant", f"a={ref_a}:70", "--variant", f"b={ref_b}:30",
                              "--sticky-key", "user-id", "--name", "iris-ab"])
    sent: list[str] = []
    counts: collections.Counter[str] = collections.Counter()
    try:
        body = infer_body(ROWS[:1])
        with httpx.Client(base_url=server.base) as http:
            for i in range(10_000):
                body["id"] = f"r{i}"
                r = http.post("/v2/models/iris-ab/infer", json=body)
                assert r.status_code == 200
                counts[r.headers["lamina-variant"]] += 1
                sent.append(f"r{i}")
            # sticky: a user always gets the same variant, by header or by parameter
            seen: dict[str, set[str]] = collections.defaultdict(set)
            for rep in range(4):
                for u in range(150):
                    if rep % 2:
                        r = http.post("/v2/models/iris-ab/infer", headers={"user-id": f"u{u}"},
                                      json={**body, "id": f"s{rep}-{u}"})
                    else:
                        r = http.post("/v2/models/iris-ab/infer",
                                      json={**body, "id": f"s{rep}-{u}",
                                            "parameters": {"user-id": f"u{u}"}})
                    seen[f"u{u}"].add(r.headers["lamina-variant"])
                    sent.append(f"s{rep}-{u}")
            # outcomes arrive later, by request id
            r = http.post("/v2/models/iris-ab/outcomes",
                          json={"outcomes": [{"request_id": "r1", "outcome": 1},
                                             {"request_id": "r2", "outcome": 0.5},
                                             {"request_id": "s0-7", "outcome": 2},
                                             {"request_id": "never-sent", "outcome": 3}]})
            assert r.status_code == 200 and r.json() == {"accepted": 4}
            bad = http.post("/v2/models/iris-ab/outcomes",
                            json={"outcomes": [{"request_id": "r3", "outcome": "yes"}]})
            assert bad.status_code == 400 and bad.json()["field"] == "outcomes[0].outcome"
    finally:
        server.stop()
    assert counts["a"] + counts["b"] == 10_000
    assert abs(counts["a"] / 10_000 - 0.70) <= 0.02, counts
    assert all(len(v) == 1 for v in seen.values()), seen
    assert {next(iter(v)) for v in seen.values()} == {"a", "b"}  # users land on both

    stack = Stack.load(cwd=project, env={})
    log = read_prediction_log(stack, "iris-ab")
    assert sorted(log["request_id"].to_pylist()) == sorted(sent)
    by_variant = collections.Counter(
        v for v, rid in zip(log["variant"].to_pylist(), log["request_id"].to_pylist(), strict=True)
        if rid.startswith("r"))
    assert by_variant == counts  # the log says which variant answered each request
    models = dict(zip(log["variant"].to_pylist(), log["model"].to_pylist(), strict=True))
    assert models == {"a": ref_a, "b": ref_b}
    assert set(log["status"].to_pylist()) == {200}
    assert log["in.petal_width"].to_pylist()[0] == 0.2
    outcomes = read_outcomes(stack, "iris-ab")
    assert sorted(zip(outcomes["request_id"].to_pylist(), outcomes["outcome"].to_pylist(), strict=True)) == [
        ("never-sent", 3.0), ("r1", 1.0), ("r2", 0.5), ("s0-7", 2.0)]
    # each outcome carries its credit: the variant that answered, when, and the sticky key
    # (the server remembered the answers); one it never answered carries none
    answered = {rid: (v, t, k) for rid, v, t, k in zip(
        *(log[c].to_pylist() for c in ("request_id", "variant", "timestamp", "key")), strict=True)}
    credit = {rid: (v, t, k) for rid, v, t, k in zip(
        *(outcomes[c].to_pylist() for c in ("request_id", "variant", "request_time", "key")),
        strict=True)}
    assert credit["never-sent"] == (None, None, None)
    assert {rid: credit[rid] for rid in ("r1", "r2", "s0-7")} == {
        rid: answered[rid] for rid in ("r1", "r2", "s0-7")}
    assert credit["s0-7"][2] == "u7"
    # partitioned by deployment and day, as the monitoring layer expects
    keys = stack.datastore.list_records("predictions/iris-ab")
    assert keys and all(k.startswith("predictions/iris-ab/date=") and "/part-" in k for k in keys)
    # the experiment: the split the server started with, and each request's sticky key
    design = latest_design(stack.datastore, "iris-ab")
    assert design is not None and design["weights"] == {"a": 70.0, "b": 30.0}
    assert design["sticky_key"] == "user-id"
    sticky = dict(zip(log["request_id"].to_pylist(), log["key"].to_pylist(), strict=True))
    assert sticky["s0-7"] == sticky["s1-7"] == "u7" and sticky["r5"] is None
    srm = ab_report(stack, "iris-ab", metric="latency_ms").srm
    assert srm.passed and srm.expected_share == {"a": 0.7, "b": 0.3}
    assert srm.unit == "requests" and sum(srm.observed.values()) == len(set(sent))


def test_two_deployments_of_one_flow_side_by_side(trained) -> None:
    project, ref_a, ref_b = trained
    one = Server(project, [ref_a, "--name", "side-one"])
    two = Server(project, [ref_b, "--name", "side-two"])
    try:
        r1 = httpx.post(f"{one.base}/v2/models/side-one/infer", json=infer_body(ROWS, id="x1"))
        r2 = httpx.post(f"{two.base}/v2/models/side-two/infer", json=infer_body(ROWS, id="x2"))
        assert r1.headers["lamina-model"] == ref_a and r2.headers["lamina-model"] == ref_b
        assert httpx.post(f"{one.base}/v2/models/side-two/infer",
                          json=infer_body(ROWS)).status_code == 404
    finally:
        one.stop()
        two.stop()
    stack = Stack.load(cwd=project, env={})
    assert set(read_prediction_log(stack, "side-one")["request_id"].to_pylist()) == {"x1"}
    assert set(read_prediction_log(stack, "side-two")["request_id"].to_pylist()) == {"x2"}

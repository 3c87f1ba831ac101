"""A deployment with ``features``: requests carry entity ids, the local server looks the
features up in the stack's online store (any OnlineStore; here the builtin SQLite one)
before predicting, and answers as the model does given the features themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_util import Server, infer_body

from lamina.serving import Deployment
from lamina.serving.errors import DeploymentError

pytestmark = pytest.mark.slow

NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = {7: [5.1, 3.5, 1.4, 0.2], 8: [6.7, 3.0, 5.2, 2.3], 9: [5.9, 3.0, 4.2, 1.5]}

DEFINITIONS = f'''
from lamina.features import Entity, Feature, FeatureService, FeatureView

flower = Entity("flower", ["flower_id"])
iris = FeatureView("iris", entities=[flower], source="flowers.parquet",
                   features=[Feature(n, "float64") for n in {NAMES!r}])
service = FeatureService("iris_service", ["iris:*"])
'''


def test_requests_carry_ids_and_the_server_looks_features_up(
        trained: tuple[Path, str, str], tmp_path: Path) -> None:
    source, ref, _ = trained
    project = tmp_path / "p"
    shutil.copytree(source, project)
    pq.write_table(pa.table({
        "flower_id": pa.array(list(ROWS), pa.int64()),
        "event_timestamp": pa.array([0, 0, 0], pa.timestamp("s")),
        **{n: [r[i] for r in ROWS.values()] for i, n in enumerate(NAMES)},
    }), project / "flowers.parquet")
    (project / "features.py").write_text(DEFINITIONS)
    from serving_util import lamina

    lamina(project, "features", "apply", "features.py")
    lamina(project, "features", "materialize", "2030-01-01")
    by_id = Server(project, [ref, "--name", "iris-ids", "--features", "iris_service"])
    plain = Server(project, [ref, "--name", "iris-plain"])
    try:
        with httpx.Client() as http:
            ids = {"inputs": [{"name": "flower_id", "datatype": "INT64", "shape": [3],
                               "data": [9, 7, 8]}]}
            got = http.post(f"{by_id.base}/v2/models/iris-ids/infer", json=ids)
            assert got.status_code == 200, got.text
            want = http.post(f"{plain.base}/v2/models/iris-plain/infer",
                             json=infer_body([ROWS[9], ROWS[7], ROWS[8]]))
            assert got.json()["outputs"] == want.json()["outputs"]
            # an input the request sends itself is used as sent, not looked up
            mixed = {"inputs": [*ids["inputs"], {"name": "petal_width", "datatype": "FP64",
                                                 "shape": [3], "data": [0.2, 0.2, 0.2]}]}
            assert http.post(f"{by_id.base}/v2/models/iris-ids/infer",
                             json=mixed).status_code == 200
            # no entity key: 400 naming it
            bad = http.post(f"{by_id.base}/v2/models/iris-ids/infer",
                            json={"inputs": [{"name": "x", "datatype": "INT64", "shape": [1],
                                              "data": [1]}]})
            assert bad.status_code == 400
            assert bad.json()["field"] == "flower_id"
            assert "looks features up by flower_id" in bad.json()["error"]
    finally:
        by_id.stop()
        plain.stop()


def test_a_bad_features_entry_in_a_spec_is_named() -> None:
    spec = {"name": "m", "variants": [{"model": "f/latest/model"}], "features": 3}
    with pytest.raises(DeploymentError, match=r"features must be a feature service's name"):
        Deployment.from_dict(spec, where="deploy.toml")
    ok = Deployment.from_dict({**spec, "features": "iris_service"})
    assert ok.features == ("iris_service",)
    # what `lamina deploy` writes for the server process reads back the same
    import json

    again = Deployment.from_dict(json.loads(json.dumps(ok.to_dict())))
    assert again.features == ("iris_service",)

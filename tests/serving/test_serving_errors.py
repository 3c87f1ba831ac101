"""Errors a user can act on: each names the thing and the fix, and nothing starts."""

from __future__ import annotations

import socket

import pytest
from serving_util import lamina

from lamina.serving import DeploymentError, ModelNotServableError, ModelRefError, resolve_model
from lamina.serving.spec import Deployment, Variant, deployment_from_options, load_spec
from lamina.stack import Stack

pytestmark = pytest.mark.slow


def _fails(project, *args: str) -> str:
    proc = lamina(project, "serve", *args, check=False, timeout=120)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    return proc.stderr


def test_unknown_model_ref(trained) -> None:
    project, _, _ = trained
    err = _fails(project, "churn")
    assert "flow 'churn' has no successful run" in err and "flows with runs: iris" in err
    err = _fails(project, "iris/latest/nostep")
    assert "no step 'nostep'" in err and "steps: data, raw_model, model" in err
    err = _fails(project, "iris/zzzz/model")
    assert "no run 'zzzz'" in err
    err = _fails(project, "a/b/c/d")
    assert "is not FLOW, FLOW/RUN or FLOW/RUN/STEP" in err


def test_artifact_not_servable(trained) -> None:
    project, ref_a, _ = trained
    run = ref_a.split("/")[1]
    err = _fails(project, f"iris/{run}/raw_model")
    assert "LogisticRegression, not a lamina.serving.Model" in err
    assert "return Model(estimator, schema=Schema.infer(X, y))" in err
    with pytest.raises(ModelNotServableError, match="dict"):
        resolve_model(Stack.load(cwd=project, env={}), f"iris/{run}/data")
    with pytest.raises(ModelRefError):
        resolve_model(Stack.load(cwd=project, env={}), "")


def test_port_in_use(trained) -> None:
    project, ref_a, _ = trained
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        err = _fails(project, ref_a, "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another with --port" in err


def test_weights_that_do_not_sum(trained) -> None:
    project, ref_a, ref_b = trained
    err = _fails(project, "--variant", f"a={ref_a}:50", "--variant", f"b={ref_b}:40")
    assert "weights a=50 + b=40 sum to 90, not 100" in err
    err = _fails(project, "--variant", f"a={ref_a}")
    assert "NAME=REF:WEIGHT" in err
    err = _fails(project, ref_a, "--variant", f"b={ref_b}:100")
    assert "either MODEL_REF or --variant" in err


def test_spec_validation() -> None:
    with pytest.raises(DeploymentError, match="appears twice"):
        Deployment("d", (Variant("a", "f", 50), Variant("a", "g", 50)))
    with pytest.raises(DeploymentError, match="not a valid name"):
        Deployment("Bad_Name", (Variant("a", "f"),))
    with pytest.raises(DeploymentError, match="unknown key 'weigth'"):
        Deployment.from_dict({"name": "d", "variants": [{"model": "f", "weigth": 100}]})
    with pytest.raises(DeploymentError, match="no \\[\\[variants\\]\\]"):
        Deployment.from_dict({"name": "d"})
    with pytest.raises(DeploymentError, match="has no weight"):
        Deployment.from_dict({"name": "d", "variants": [{"model": "f"}, {"model": "g"}]})
    d = deployment_from_options("iris/latest/model")
    assert d.name == "iris" and d.variants == (Variant("default", "iris/latest/model", 100.0),)


def test_spec_file_errors(tmp_path) -> None:
    with pytest.raises(DeploymentError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(DeploymentError, match=r"bad\.toml"):
        load_spec(bad)
    good = tmp_path / "good.toml"
    good.write_text('name = "x"\nsticky_key = "user"\n[[variants]]\nname = "a"\nmodel = "f"\n'
                    'weight = 60\n[[variants]]\nname = "b"\nmodel = "g"\nweight = 40\n'
                    '[mirror]\nmodel = "h"\n')
    d = load_spec(good)
    assert d.sticky_key == "user" and d.mirror == Variant("mirror", "h", 0.0)
    assert [v.weight for v in d.variants] == [60.0, 40.0]

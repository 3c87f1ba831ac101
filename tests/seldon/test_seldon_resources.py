"""Generated Seldon resources validate against the vendored CRD schemas."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from lamina_serving_seldon.resources import integer_weights, v1_resource, v2_resources
from lamina_serving_seldon.validate import crd_schema, validate_resource

from lamina.serving import Deployment, Variant, deploy_from_file
from lamina.stack import Stack

AB = Deployment("churn-ab", (Variant("a", "churn/r1/model", 70), Variant("b", "churn/r2/model", 30)),
                mirror=Variant("shadow", "churn/r3/model", 0))
REFS = {"a": "churn/r1/model", "b": "churn/r2/model", "shadow": "churn/r3/model"}
SETTINGS = {
    v: {"name": f"churn-ab-{v}", "implementation": "x",
        "parameters": {"uri": "s3://b/lamina", "extra": {"artifact": {"key": "k"}, "model": REFS[v]}}}
    for v in REFS
}


def _v2() -> list[dict]:
    return v2_resources(AB, REFS, namespace="models",
                        storage_uris={v: f"s3://b/lamina/serving/churn-ab/{v}" for v in REFS})


def test_v2_model_and_experiment_validate() -> None:
    docs = _v2()
    assert [d["kind"] for d in docs] == ["Model", "Model", "Model", "Experiment"]
    for d in docs:
        assert validate_resource(d) == [], d
    exp = docs[-1]["spec"]
    assert exp["candidates"] == [{"name": "churn-ab-a", "weight": 70},
                                 {"name": "churn-ab-b", "weight": 30}]
    assert exp["default"] == "churn-ab-a"
    assert exp["mirror"] == {"name": "churn-ab-shadow", "percent": 100}
    single = Deployment("one", (Variant("default", "churn/r1/model"),))
    docs = v2_resources(single, {"default": "churn/r1/model"}, namespace="m",
                        storage_uris={"default": "s3://x"})
    assert [d["kind"] for d in docs] == ["Model"]  # no experiment for a single model


def test_v1_seldondeployment_validates() -> None:
    doc = v1_resource(AB, SETTINGS, namespace="models", image="seldonio/mlserver:1.7.1")
    assert validate_resource(doc) == []
    preds = doc["spec"]["predictors"]
    assert [(p["name"], p.get("traffic"), p.get("shadow", False)) for p in preds] == [
        ("a", 70, False), ("b", 30, False), ("shadow", None, True)]
    env = {e["name"]: e["value"] for e in preds[0]["componentSpecs"][0]["spec"]["containers"][0]["env"]}
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "lamina_serving_seldon.runtime.LaminaRuntime"
    assert json.loads(env["MLSERVER_MODEL_EXTRA"])["model"] == "churn/r1/model"


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: d["spec"].pop("storageUri"), "'storageUri' is a required property"),
        (lambda d: d["spec"].update(storageURI="s3://x"), "Additional properties"),
        (lambda d: d["spec"].update(replicas="two"), "is not of type 'integer'"),
        (lambda d: d["spec"].update(memory="lots"), "does not match"),
        (lambda d: d["spec"].update(replicas=2**31), "int32"),
        (lambda d: d["metadata"].update(name="Churn_AB"), "DNS-1123"),
    ],
)
def test_invalid_resources_are_reported(mutate, words) -> None:
    doc = copy.deepcopy(_v2()[0])
    mutate(doc)
    problems = validate_resource(doc)
    assert problems and any(words in p for p in problems), problems


def test_experiment_and_sdep_schemas_catch_mistakes() -> None:
    exp = copy.deepcopy(_v2()[-1])
    exp["spec"]["candidates"][0].pop("weight")
    assert any("'weight' is a required property" in p for p in validate_resource(exp))
    doc = v1_resource(AB, SETTINGS, namespace="m", image="i")
    doc["spec"]["predictors"][0]["graph"].pop("name")
    assert any("'name' is a required property" in p for p in validate_resource(doc))
    assert crd_schema("mlops.seldon.io/v1alpha1", "Model", False)["properties"]["spec"][
        "required"] == ["storageUri"]
    with pytest.raises(KeyError, match="no vendored CRD schema"):
        crd_schema("v1", "Pod")


def test_integer_weights_sum_to_100() -> None:
    assert integer_weights([33.4, 33.3, 33.3]) == [34, 33, 33]
    assert integer_weights([50.5, 49.5]) == [51, 49]
    assert sum(integer_weights([12.5, 12.5, 75.0])) == 100


def test_deploy_spec_to_a_seldon_stack(iris_project) -> None:
    project, ref = iris_project
    (project / "lamina.toml").write_text(
        '[stacks.seldon]\nserving = { plugin = "seldon", namespace = "models", '
        'core_version = "both", datastore_url = "s3://ml/lamina" }\n')
    spec = project / "iris-ab.toml"
    spec.write_text(f'name = "iris-ab"\n[[variants]]\nname = "a"\nmodel = "{ref}"\nweight = 90\n'
                    f'[[variants]]\nname = "b"\nmodel = "iris"\nweight = 10\n')
    stack = Stack.load("seldon", cwd=project, env={})
    text = deploy_from_file(spec, stack, dry_run=True)
    docs = [d for d in yaml.safe_load_all(text.split("\n---\n", 1)[1]) if d]
    assert [d["kind"] for d in docs] == ["Model", "Model", "Experiment", "SeldonDeployment"]
    assert all(validate_resource(d) == [] for d in docs)
    assert docs[0]["spec"]["storageUri"] == "s3://ml/lamina/serving/iris-ab/a"
    assert not (project / ".lamina" / "seldon").exists()  # dry run writes nothing

    endpoint = deploy_from_file(spec, stack)
    assert "iris-ab.experiment" in endpoint
    manifest = project / ".lamina" / "seldon" / "iris-ab.yaml"
    assert manifest.exists()
    settings = json.loads(stack.datastore.get_record("serving/iris-ab/a/model-settings.json"))
    assert settings["implementation"] == "lamina_serving_seldon.runtime.LaminaRuntime"
    assert settings["parameters"]["extra"]["model"] == ref
    backend = stack.component("serving")
    assert [d["name"] for d in backend.list_deployments()] == ["iris-ab"]
    (listed,) = backend.list_deployments()
    assert ref in [v["model"] for v in listed["variants"]]
    from lamina.retention.keepers import serving_deployments  # lamina gc keeps its run

    assert ref.split("/")[1] in serving_deployments(stack)
    backend.undeploy("iris-ab")
    assert not manifest.exists()

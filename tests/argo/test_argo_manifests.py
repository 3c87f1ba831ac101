"""What `lamina deploy` generates for Argo: the WorkflowTemplate's DAG, retries,
timeouts, resources, image and service account, secrets as references, the CronWorkflow
and the Argo Events Sensor, each validated against Argo's published JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from argo_util import write_project
from lamina_orch_argo import schema

from lamina.deploy import deploy
from lamina.errors import LaminaError
from lamina.stack import Stack


def _docs(tmp_path: Path, **options: object) -> dict[str, dict]:
    flow = write_project(tmp_path / "project", **options)
    stack = Stack.load("argo", cwd=flow.parent, env={})
    try:
        text = deploy(str(flow), stack=stack, dry_run=True)
    finally:
        stack.close()
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        assert schema.problems(doc) == [], doc["kind"]
    return {doc["kind"]: doc for doc in docs}


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, dict]:
    return _docs(tmp_path)


def _templates(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def test_each_step_is_a_template_and_the_dag_follows_the_flow(docs) -> None:
    template = docs["WorkflowTemplate"]
    tasks = {t["name"]: t for t in _templates(template)["main"]["dag"]["tasks"]}
    assert list(tasks) == ["start", "prepare-countries", "countries", "prepare-model", "model",
                           "prepare-best", "best"]
    assert tasks["prepare-model"]["depends"] == "start && countries"
    assert tasks["model"]["withParam"] == "{{tasks.prepare-model.outputs.parameters.indexes}}"
    assert "withParam" not in tasks["best"] and tasks["prepare-best"]["depends"] == "start && model"
    step = _templates(template)["step-model"]["container"]
    assert step["command"] == ["python"]
    args = step["args"]
    assert args[:3] == ["-m", "lamina", "task"]
    assert args[args.index("--step") + 1] == "model"
    assert args[args.index("--index") + 1] == "{{inputs.parameters.index}}"
    spec = json.loads(args[args.index("--datastore-spec") + 1])
    assert spec["component"] == "file"
    assert template["spec"]["onExit"] == "lamina-exit"  # the run is closed whatever happened


def test_step_options_become_retries_timeouts_and_resources(docs) -> None:
    model = _templates(docs["WorkflowTemplate"])["step-model"]
    assert model["retryStrategy"] == {"limit": "2", "retryPolicy": "Always"}
    assert model["activeDeadlineSeconds"] == "600"
    assert model["container"]["resources"] == {
        "requests": {"cpu": "0.5", "memory": "512Mi"},
        "limits": {"memory": "512Mi", "nvidia.com/gpu": "1"},
    }
    best = _templates(docs["WorkflowTemplate"])["step-best"]
    assert "retryStrategy" not in best and "resources" not in best["container"]


def test_image_service_account_and_secrets_are_references(docs) -> None:
    template = docs["WorkflowTemplate"]
    assert template["spec"]["serviceAccountName"] == "lamina-runner"
    for t in _templates(template).values():
        if "container" in t:
            assert t["container"]["image"] == "registry.example/ml:2026-12"
            assert t["container"]["envFrom"] == [{"secretRef": {"name": "lamina-datastore"}}]
            assert t["container"]["env"] == [{"name": "WANDB_API_KEY", "valueFrom": {
                "secretKeyRef": {"name": "wandb", "key": "api-key"}}}]
    params = template["spec"]["arguments"]["parameters"]
    assert params[0]["name"] == "params"
    assert json.loads(params[0]["value"]) == {"alpha": 0.1, "path": "data/orders.parquet"}


def test_a_schedule_is_a_cron_workflow_of_the_template(docs) -> None:
    cron = docs["CronWorkflow"]
    assert cron["spec"]["schedules"] == ["0 3 * * 1-5"]
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "argo-shop"}}


def test_triggers_are_a_sensor_with_the_payload_mapped_to_parameters(docs) -> None:
    sensor = docs["Sensor"]
    deps = {d["name"]: d for d in sensor["spec"]["dependencies"]}
    assert deps["finished-ingest"]["filters"]["data"][1] == {
        "path": "body.flow", "type": "string", "value": ["ingest"]}
    assert deps["event-orders-ready"]["filters"]["data"][1]["value"] == ["orders-ready"]
    on_event = sensor["spec"]["triggers"][1]["template"]
    assert on_event["conditions"] == "event-orders-ready"
    mapping = on_event["argoWorkflow"]["parameters"][0]
    assert mapping["dest"] == "spec.arguments.parameters.0.value"
    assert '(index .Input.body.payload "uri")' in mapping["src"]["dataTemplate"]
    assert 'set $p "path"' in mapping["src"]["dataTemplate"]
    source = on_event["argoWorkflow"]["source"]["resource"]
    assert source["spec"]["workflowTemplateRef"] == {"name": "argo-shop"}


def test_a_successful_run_announces_itself_for_trigger_on_finish(docs) -> None:
    templates = _templates(docs["WorkflowTemplate"])
    assert templates["lamina-exit"]["dag"]["tasks"][1]["depends"] == "finish.Succeeded"
    body = json.loads(templates["lamina-announce"]["http"]["body"])
    assert body["type"] == "lamina-flow-finished" and body["flow"] == "argo_shop"


def test_names_are_qualified_by_the_project_branch(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAMINA_USER", "alice")
    docs = _docs(tmp_path, project="churn")
    names = {doc["metadata"]["name"] for doc in docs.values()}
    assert names == {"churn-alice-argo-shop"}
    assert docs["WorkflowTemplate"]["metadata"]["labels"]["lamina.dev/branch"] == "alice"
    sensor = docs["Sensor"]["spec"]["dependencies"][0]["filters"]["data"][1]
    assert sensor["value"] == ["churn.alice.ingest"]  # the upstream flow in the same branch
    announce = json.loads(_templates(docs["WorkflowTemplate"])["lamina-announce"]["http"]["body"])
    assert announce["flow"] == "churn.alice.argo_shop"


def test_strict_schema_catches_a_misspelt_field(docs) -> None:
    template = docs["WorkflowTemplate"]
    template["spec"]["templates"][1]["container"]["imagePullPolicyy"] = "Always"
    template["spec"]["templates"][2]["retryStrategy"] = {"limit": {"not": "a number"}}
    found = schema.problems(template)
    assert any("imagePullPolicyy" in p for p in found), found
    assert any(p.startswith("spec.templates.2.retryStrategy.limit") for p in found), found
    with pytest.raises(LaminaError, match="does not match Argo's schema"):
        schema.check(template)


def test_a_stack_without_image_is_refused_with_the_fix(tmp_path) -> None:
    with pytest.raises(LaminaError, match="no image") as err:
        _docs(tmp_path, image="")
    assert 'set image = "registry/ml:TAG"' in str(err.value)


def test_a_flow_without_schedule_or_triggers_is_one_template(tmp_path) -> None:
    flow = write_project(tmp_path / "project")
    stack = Stack.load("argo", cwd=flow.parent, env={})
    text = deploy(str(flow.parent / "plain.py"), stack=stack, dry_run=True)
    kinds = [d["kind"] for d in yaml.safe_load_all(text)]
    assert kinds == ["WorkflowTemplate"]

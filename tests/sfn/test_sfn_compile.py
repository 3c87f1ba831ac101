"""What `lamina deploy` generates for Step Functions (without AWS): the ASL, the job
definitions (secrets as references), the EventBridge rules of a schedule and triggers;
and how an execution's input becomes flow parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lamina_orch_sfn.relay import params_from_input
from sfn_util import write_project

from lamina.deploy import deploy
from lamina.errors import LaminaError
from lamina.stack import Stack

FLOW = '''
from lamina import EventTrigger, Flow

flow = Flow("sfn_shop", schedule="0 3 * * 1-5", trigger_on_finish="ingest",
            trigger=[EventTrigger("orders-ready", params={"path": "uri"}), "refresh"])


@flow.step
def countries(path: str = "data/orders.parquet") -> list[str]:
    return ["fi", "se"]


@flow.step(foreach="countries", retries=2, timeout=30, cpu=2, memory=4096, gpu=1)
def model(countries: str, alpha: float = 0.1) -> str:
    return countries


@flow.step
def best(model: list) -> str:
    return max(model)
'''


class _Moto:  # what write_project needs, without a server
    queue_arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/q"
    role_arn = "arn:aws:iam::123456789012:role/sfn"
    url = "http://127.0.0.1:9"


def _compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, project: str = "", **options) -> dict:
    monkeypatch.setenv("LAMINA_USER", "alice")
    flow = write_project(tmp_path / "p", _Moto(), FLOW, **options)
    if project:
        toml = flow.parent / "lamina.toml"
        toml.write_text(f'project = "{project}"\n' + toml.read_text())
    stack = Stack.load("sfn", cwd=flow.parent, env={})
    return json.loads(deploy(str(flow), stack=stack, dry_run=True))


def test_each_step_is_a_batch_task_and_a_foreach_is_a_map(tmp_path, monkeypatch) -> None:
    out = _compiled(tmp_path, monkeypatch)
    states = out["stateMachine"]["definition"]["States"]
    assert out["stateMachine"]["name"] == "lamina-sfn_shop"
    assert list(states)[:6] == ["start", "run id", "prepare countries", "step countries",
                                "prepare model", "indexes model"]
    fan = states["step model"]
    assert fan["Type"] == "Map" and fan["ItemsPath"] == "$.fanout.indexes"
    task = fan["ItemProcessor"]["States"]["task model"]
    assert task["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    assert task["Parameters"]["Parameters"]["step"] == "model"
    assert task["Retry"][0]["MaxAttempts"] == 2
    assert task["Parameters"]["Timeout"] == {"AttemptDurationSeconds": 60}  # Batch's minimum
    assert task["Parameters"]["ContainerOverrides"]["ResourceRequirements"] == [
        {"Type": "VCPU", "Value": "2"}, {"Type": "MEMORY", "Value": "4096"}, {"Type": "GPU", "Value": "1"}]
    assert states["step best"]["Catch"][0]["Next"] == "finish failed"
    assert states["failed"] == {"Type": "Fail", "Error": "LaminaRunFailed", "CausePath": "$.error.Cause"}
    assert states["finish"]["Next"] == "succeeded"


def test_job_definitions_run_lamina_and_hold_secret_references(tmp_path, monkeypatch) -> None:
    out = _compiled(tmp_path, monkeypatch, secrets={
        "WANDB_API_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wandb"})
    by_name = {d["jobDefinitionName"]: d["containerProperties"] for d in out["jobDefinitions"]}
    task = by_name["lamina-sfn_shop-task"]["command"]
    assert task[1:4] == ["-m", "lamina", "task"]
    assert task[task.index("--run") + 1] == "Ref::run" and task[task.index("--index") + 1] == "Ref::index"
    assert by_name["lamina-sfn_shop-task"]["secrets"] == [
        {"name": "WANDB_API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wandb"}]
    start = by_name["lamina-sfn_shop-start"]["command"]
    assert start[1:4] == ["-m", "lamina_orch_sfn.relay", "start"]
    assert json.loads(start[start.index("--events") + 1]) == {
        "orders-ready": {"path": "uri"}, "refresh": {"alpha": "alpha", "path": "path"}}


def test_schedule_and_triggers_are_eventbridge_rules(tmp_path, monkeypatch) -> None:
    rules = {r["Name"]: r for r in _compiled(tmp_path, monkeypatch)["rules"]}
    assert rules["lamina-sfn_shop-schedule"]["ScheduleExpression"] == "cron(0 3 ? * 2-6 *)"
    after = json.loads(rules["lamina-sfn_shop-after-ingest"]["EventPattern"])
    assert after["detail"] == {"status": ["SUCCEEDED"],
                               "stateMachineArn": ["<state machine lamina-ingest>"]}
    on = rules["lamina-sfn_shop-on-orders-ready"]
    assert json.loads(on["EventPattern"])["detail"] == {"name": ["orders-ready"]}
    assert on["target"]["InputTransformer"]["InputPathsMap"]["payload"] == "$.detail.payload"


def test_names_are_qualified_by_the_project_branch(tmp_path, monkeypatch) -> None:
    out = _compiled(tmp_path, monkeypatch, project="churn")
    assert out["stateMachine"]["name"] == "lamina-churn-alice-sfn_shop"
    after = next(r for r in out["rules"] if "after" in r["Name"])
    assert "<state machine lamina-churn-alice-ingest>" in after["EventPattern"]


def test_an_event_payload_becomes_parameters() -> None:
    events = {"orders-ready": {"path": "uri"}, "refresh": {"alpha": "alpha", "path": "path"}}
    event = {"event": {"name": "orders-ready", "payload": {"uri": "s3://x", "other": 1}}}
    assert params_from_input(json.dumps(event), events) == {"path": "s3://x"}
    refresh = {"event": {"name": "refresh", "payload": {"alpha": 0.5, "junk": True}}}
    assert params_from_input(json.dumps(refresh), events) == {"alpha": 0.5}
    assert params_from_input('{"params": {"alpha": 0.2}}', events) == {"alpha": 0.2}
    with pytest.raises(ValueError, match="does not trigger this flow"):
        params_from_input('{"event": {"name": "nope"}}', events)


def test_a_schedule_without_an_events_role_is_refused(tmp_path, monkeypatch) -> None:
    from lamina_orch_sfn.orchestrator import StepFunctionsOrchestrator

    flow = write_project(tmp_path / "p", _Moto(), FLOW, events_role_arn=None)
    stack = Stack.load("sfn", cwd=flow.parent, env={})
    orchestrator = stack.orchestrator
    assert isinstance(orchestrator, StepFunctionsOrchestrator)
    with pytest.raises(LaminaError, match="no events_role_arn"):
        orchestrator._put_rules(_plan(flow, stack), stack, "arn:aws:states:r:1:stateMachine:x")


def _plan(flow: Path, stack: Stack):
    from lamina.deploy import build_deployment_plan
    from lamina.flow.loader import load_flow_file

    return build_deployment_plan(load_flow_file(str(flow)), stack, upload=False)

"""A flow deployed to Step Functions and executed end to end on a moto server: moto's ASL
interpreter runs the state machine lamina generated, its Batch integration submits the
jobs, and each job's command (``python -m lamina ...``) runs here (see moto_sfn_patch).
The results are read back through lamina's Client and compared with a local run's."""

from __future__ import annotations

import json

import pytest
from sfn_util import CREDENTIALS, MotoSfn, write_project

from lamina import Client
from lamina.deploy import deploy
from lamina.flow.loader import load_flow_file
from lamina.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FLOW = '''
from pathlib import Path

from lamina import Flow

flow = Flow("sfn_cubes")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers", retries=1, timeout=300, cpu=0.5, memory=256)
def cube(numbers: int, marker: str = "") -> int:
    if marker and not Path(marker).exists():   # fails on the first attempt, then passes
        Path(marker).write_text("tried")
        raise RuntimeError("first attempt fails")
    return numbers ** 3


@flow.step
def total(cube: list[int], scale: int = 1) -> int:
    return sum(cube) * scale


@flow.step
def check(total: int, fail: bool = False) -> int:
    if fail:
        raise ValueError(f"total {total} refused on purpose")
    return total
'''


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CREDENTIALS.items():
            patch.setenv(key, value)
        server = MotoSfn(tmp_path_factory.mktemp("moto-sfn"))
        yield server
        server.stop()


@pytest.fixture(scope="module")
def deployed(moto: MotoSfn, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sfn-project")
    flow = write_project(root, moto, FLOW)
    stack = Stack.load("sfn", cwd=root, env={})
    arn = deploy(str(flow), stack=stack)
    return {"root": root, "flow": flow, "stack": stack, "arn": arn}


def _execute(moto: MotoSfn, deployed: dict, params: dict) -> dict:
    orchestrator = deployed["stack"].orchestrator
    execution = orchestrator.trigger("sfn_cubes", deployed["stack"], params)
    return moto.wait(execution)


def test_an_execution_runs_every_step_and_matches_a_local_run(moto, deployed) -> None:
    marker = deployed["root"] / "marker"
    done = _execute(moto, deployed, {"n": 4, "scale": 2, "marker": str(marker)})
    assert done["status"] == "SUCCEEDED", [str(x)[:300] for x in [
        (e["type"], {k: v for k, v in e.items() if k.endswith("Details")})
        for e in moto.history(done["executionArn"]) if "Fail" in e["type"] or "Timed" in e["type"]]]
    stack = deployed["stack"]
    run = Client(stack=stack).runs(flow="sfn_cubes")[0]
    assert run.status == "succeeded"
    assert run.record.orchestrator == "step-functions"
    local = load_flow_file(deployed["flow"]).run(stack=Stack.load("sfn", cwd=deployed["root"], env={}),
                                                 n=4, scale=2, marker=str(marker))
    assert [t.value for t in run["cube"].tasks] == [t.value for t in local["cube"].tasks] == [1, 8, 27, 64]
    assert run["check"].value == local["check"].value == 200
    # the retry: the first cube task failed once and succeeded on its second attempt
    attempts = [json.loads(r["command"][r["command"].index("--attempt") + 1])
                for r in moto.ran() if "task" in r["command"] and "cube" in r["command"]]
    assert sorted(attempts).count(2) == 1 and len(attempts) == 5


def test_a_failing_step_fails_the_execution_with_its_cause(moto, deployed) -> None:
    done = _execute(moto, deployed, {"fail": True})
    assert done["status"] == "FAILED"
    assert done["error"] == "LaminaRunFailed"
    cause = json.loads(done["cause"])  # the failed Batch job, as Step Functions reports it
    assert cause["Status"] == "FAILED" and "refused on purpose" in cause["StatusReason"]
    run = Client(stack=deployed["stack"]).runs(flow="sfn_cubes")[0]
    assert run.status == "failed"
    assert "total 36 refused on purpose" in (run["check"].task.error or "")
    finish = [r for r in moto.ran() if "finish" in r["command"]][-1]
    assert finish["returncode"] == 1  # the run was closed (recorded failed) before Fail


TRIGGERED = '''
from lamina import EventTrigger, Flow

flow = Flow("sfn_report", schedule="@daily", trigger_on_finish="sfn_cubes",
            trigger=EventTrigger("orders-ready", params={"label": "uri"}))


@flow.step
def report(label: str = "none") -> str:
    return f"report of {label}"
'''


def test_schedule_and_triggers_become_rules_and_an_event_runs_with_its_payload(moto, deployed) -> None:
    root = deployed["root"]
    flow = root / "report.py"
    flow.write_text(TRIGGERED)
    stack = deployed["stack"]
    arn = deploy(str(flow), stack=stack)
    events = moto.client("events")
    names = sorted(events.list_rule_names_by_target(TargetArn=arn)["RuleNames"])
    assert names == ["lamina-sfn_report-after-sfn_cubes", "lamina-sfn_report-on-orders-ready",
                     "lamina-sfn_report-schedule"]
    assert events.describe_rule(Name=names[2])["ScheduleExpression"] == "cron(0 0 * * ? *)"
    after = json.loads(events.describe_rule(Name=names[0])["EventPattern"])
    assert after["detail"]["stateMachineArn"] == [deployed["arn"]]  # the upstream's real ARN

    # moto's EventBridge cannot deliver to Step Functions (NotImplementedError), and it
    # sends every event to a schedule rule too: the state machine's targets are removed,
    # the event rule's moved to an SQS queue with the same InputTransformer, so the
    # message is what the state machine would get; that input is then executed for real
    sqs = moto.client("sqs")
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    target = events.list_targets_by_rule(Rule=names[1])["Targets"][0]
    assert target["Arn"] == arn and target["RoleArn"] == moto.role_arn
    for name in names:
        events.remove_targets(Rule=name, Ids=[target["Id"]])
    events.put_targets(Rule=names[1], Targets=[{"Id": "seen", "Arn": queue_arn,
                                                "InputTransformer": target["InputTransformer"]}])
    stack.orchestrator.send_event("orders-ready", {"uri": "s3://bucket/orders/2026-12-03"})
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]
    state_input = json.loads(message["Body"])
    assert state_input == {"event": {"name": "orders-ready",
                                     "payload": {"uri": "s3://bucket/orders/2026-12-03"}}}
    sfn = moto.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name="from-event",
                                    input=json.dumps(state_input))["executionArn"]
    assert moto.wait(execution)["status"] == "SUCCEEDED"
    run = Client(stack=stack).runs(flow="sfn_report")[0]
    assert run["report"].value == "report of s3://bucket/orders/2026-12-03"

"""Schedules and triggers: the Flow(...) arguments and their errors, cron matching, and the
local scheduler (`lamina schedule run`) driven by an injected clock."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lamina import EventTrigger, Flow
from lamina.deploy import trigger
from lamina.errors import FlowDefinitionError, LaminaError
from lamina.flow.loader import load_flow_file
from lamina.flow.triggers import cron_matches, eventbridge_cron, normalize_cron
from lamina.runtime.schedule import LocalScheduler
from lamina.stack import Stack


def test_schedules_are_normalized_and_bad_ones_name_the_field() -> None:
    assert Flow("a", schedule="@daily").triggers.schedule == "0 0 * * *"
    assert Flow("a", schedule=" 0  3 * * 1-5 ").triggers.schedule == "0 3 * * 1-5"
    with pytest.raises(FlowDefinitionError, match="flow 'a': schedule '0 25 \\* \\* \\*': the hour field"):
        Flow("a", schedule="0 25 * * *")
    with pytest.raises(FlowDefinitionError, match="has 4 field"):
        Flow("a", schedule="0 3 * *")
    with pytest.raises(FlowDefinitionError, match="not a known alias"):
        Flow("a", schedule="@sometimes")
    with pytest.raises(FlowDefinitionError, match="would start itself"):
        Flow("a", trigger_on_finish="a")
    with pytest.raises(FlowDefinitionError, match="event name 'bad name'"):
        Flow("a", trigger="bad name")


def test_cron_matching_and_eventbridge_form() -> None:
    monday_3am = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    assert cron_matches("0 3 * * 1-5", monday_3am)
    assert not cron_matches("0 3 * * 1-5", monday_3am + dt.timedelta(days=5))  # Saturday
    assert cron_matches("*/15 * * * *", monday_3am + dt.timedelta(minutes=45))
    assert not cron_matches("*/15 * * * *", monday_3am + dt.timedelta(minutes=44))
    assert cron_matches("0 0 1 * 0", dt.datetime(2026, 11, 29, tzinfo=dt.UTC))  # a Sunday: either day
    assert normalize_cron("@weekly") == "0 0 * * 0"
    assert eventbridge_cron("0 3 * * 1-5") == "cron(0 3 ? * 2-6 *)"
    assert eventbridge_cron("30 6 1 * *") == "cron(30 6 1 * ? *)"
    with pytest.raises(FlowDefinitionError, match="EventBridge cannot express"):
        eventbridge_cron("0 0 1 * 1")


def test_an_event_payload_maps_to_parameters() -> None:
    mapped = EventTrigger("ready", params={"path": "uri"})
    assert mapped.parameters({"uri": "s3://x", "n": 1}, ["path", "n"]) == {"path": "s3://x"}
    assert EventTrigger("ready").parameters({"path": "p", "junk": 1}, ["path"]) == {"path": "p"}


FLOWS = {
    "nightly.py": '''
        from lamina import Flow
        flow = Flow("nightly", schedule="0 3 * * *")

        @flow.step
        def numbers() -> list[int]:
            return [1, 2, 3]
    ''',
    "report.py": '''
        from lamina import EventTrigger, Flow
        flow = Flow("report", trigger_on_finish="nightly",
                    trigger=EventTrigger("orders-ready", params={"label": "uri"}))

        @flow.step
        def report(label: str = "nightly") -> str:
            return f"report of {label}"
    ''',
}


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def flows(project: Path) -> dict:
    (project / "lamina.toml").write_text('[stacks.local]\ndatastore = "file://.lamina"\n')
    for name, text in FLOWS.items():
        (project / name).write_text(textwrap.dedent(text))
    stack = Stack.load("local", cwd=project, env={})
    return {"stack": stack, "flows": [load_flow_file(str(project / n)) for n in FLOWS]}


def test_the_local_scheduler_runs_on_schedule_after_success_and_on_events(flows) -> None:
    stack = flows["stack"]
    clock = Clock(dt.datetime(2026, 12, 3, 2, 59, tzinfo=dt.UTC))
    scheduler = LocalScheduler(flows["flows"], stack=stack, clock=clock)
    assert scheduler.tick() == []  # 02:59: nothing due
    clock.now += dt.timedelta(minutes=1)
    [nightly] = scheduler.tick()  # 03:00: the schedule
    assert nightly.flow == "nightly" and nightly.status == "succeeded"
    assert "trigger:schedule 0 3 * * *" in nightly.record.tags
    clock.now += dt.timedelta(seconds=20)
    [report] = scheduler.tick()  # same minute: not again; nightly's success starts report
    assert report.flow == "report" and report["report"].value == "report of nightly"
    assert scheduler.tick() == []  # each success starts it once

    trigger(event="orders-ready", payload={"uri": "s3://orders/7"}, stack=stack)
    trigger(event="unrelated", payload={}, stack=stack)
    [from_event] = scheduler.tick()
    assert from_event["report"].value == "report of s3://orders/7"
    assert scheduler.tick() == []  # an event is handled once


def test_runs_from_before_the_scheduler_started_do_not_trigger(flows) -> None:
    stack = flows["stack"]
    flows["flows"][0].run(stack=stack)
    clock = Clock(dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC))
    assert LocalScheduler(flows["flows"], stack=stack, clock=clock).tick() == []


def test_trigger_without_an_engine_api_says_what_to_do(flows) -> None:
    with pytest.raises(LaminaError, match="does not start runs from lamina"):
        trigger("nightly", stack=flows["stack"])


def test_schedule_run_once_from_the_cli(flows, project: Path) -> None:
    subprocess.run([sys.executable, "-m", "lamina", "trigger", "--event", "orders-ready",
                    "--payload", json.dumps({"uri": "cli"})], cwd=project, check=True,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-m", "lamina", "schedule", "run", "nightly.py",
                           "report.py", "--once"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "report: after nightly, event orders-ready" in done.stdout
    assert "report: run " in done.stdout and "succeeded" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "lamina", "trigger", "--event", "x",
                          "--payload", "{nope"], cwd=project, capture_output=True, text=True)
    assert bad.returncode != 0 and "--payload is not JSON" in bad.stderr

"""Tests of the plugin as its own team would write them: install the distribution, let
lamina discover it, fire hooks through a real stack, read the log."""

from __future__ import annotations

import json
import time

from lamina.sdk import RunRecord, Stack, TaskContext, TaskSpec


def test_lamina_discovers_the_plugin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stack = Stack.load(cwd=tmp_path)
    info = stack.plugins.plugin_info("audit")
    assert info is not None and info.distribution == "lamina-audit-log"
    assert stack.plugins.unknown_hooks() == []  # no misspelled hook names


def test_run_and_task_events_are_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAMINA_AUDIT_LOG", raising=False)
    (tmp_path / "lamina.toml").write_text('[plugins.audit]\npath = "audit.jsonl"\n')
    stack = Stack.load(cwd=tmp_path)
    run = RunRecord(run_id="r1", flow="f", status="running", started_at=time.time())
    stack.hook.lamina_before_run(run=run, stack=stack)
    spec = TaskSpec(run_id="r1", flow="f", step="s", index=0, attempt=1, datastore_url="")
    context = TaskContext(stack=stack, spec=spec, artifacts=stack.artifacts)
    stack.hook.lamina_before_task(spec=spec, context=context)
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["run.started", "task.started"]
    assert events[1]["step"] == "s" and events[1]["index"] == 0

"""examples/audit_plugin, pip-installed for real: discovered through its entry point, and
its hook implementations write the audit log."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest
from kernel_fixtures.helpers import audit_plugin, run_lamina  # noqa: F401  (session fixture)

from lamina.errors import ConfigError
from lamina.records import ArtifactRef, RunRecord, TaskOutcome, TaskSpec
from lamina.sdk import TaskContext
from lamina.stack import Stack

LIFECYCLE_HOOKS = {
    "lamina_before_run", "lamina_after_run", "lamina_on_run_error",
    "lamina_before_task", "lamina_after_task", "lamina_on_task_error",
    "lamina_before_artifact_save", "lamina_after_artifact_save", "lamina_on_artifact_error",
    "lamina_after_artifact_load", "lamina_model_deployed", "lamina_prediction_logged",
    "lamina_alert",
}


@pytest.fixture
def installed(monkeypatch, audit_plugin, tmp_path):  # noqa: F811
    monkeypatch.syspath_prepend(str(audit_plugin))
    monkeypatch.delenv("LAMINA_AUDIT_LOG", raising=False)
    monkeypatch.delenv("LAMINA_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(status="running", **kw):
    return RunRecord(run_id="r-1", flow="churn", status=status, started_at=time.time(),
                     user="ada", params={"alpha": 0.3}, **kw)


def test_discovered_through_its_entry_point(installed):
    stack = Stack.load(cwd=installed)
    info = stack.plugins.plugin_info("audit")
    assert info is not None
    assert (info.distribution, info.version, info.entry_point) == (
        "lamina-audit-log", "0.1.0", "audit = lamina_audit_log.plugin"
    )
    assert LIFECYCLE_HOOKS - set(info.hooks) == set()  # every lifecycle hook is implemented
    assert stack.plugins.unknown_hooks() == []


def test_lamina_plugins_lists_it(tmp_path, audit_plugin):  # noqa: F811
    proc = run_lamina(["plugins"], cwd=tmp_path, paths=[audit_plugin])
    assert proc.returncode == 0, proc.stderr
    block = proc.stdout.split("lamina-audit-log 0.1.0\n")[1]
    assert block.startswith("  entry point: audit = lamina_audit_log.plugin\n  components:  datastore/sized\n")
    assert "lamina_before_run" in block.splitlines()[2]


def test_hooks_write_json_lines(installed):
    (installed / "lamina.toml").write_text('[plugins.audit]\npath = "logs/audit.jsonl"\n')
    stack = Stack.load(cwd=installed)
    run = _run()
    spec = TaskSpec(run_id="r-1", flow="churn", step="train", index=3, attempt=1,
                    datastore_url="memory://x")
    ref = ArtifactRef(key="ab" * 32, serializer="pickle", size=10)
    outcome = TaskOutcome(run_id="r-1", step="train", index=3, attempt=1, status="succeeded",
                          started_at=1.0, finished_at=3.5, output=ref)
    failed = TaskOutcome(run_id="r-1", step="train", index=4, attempt=1, status="failed",
                         started_at=1.0, finished_at=2.0, location="flow.py:12")
    stack.hook.lamina_before_run(run=run, stack=stack)
    context = TaskContext(stack=stack, spec=spec, artifacts=stack.artifacts)
    stack.hook.lamina_before_task(spec=spec, context=context)
    stack.hook.lamina_before_artifact_save(name="r-1/train/3", value=[1, 2], stack=stack)
    stack.hook.lamina_after_artifact_save(name="r-1/train/3", ref=ref, created=True,
                                          stack=stack)
    stack.hook.lamina_after_task(spec=spec, outcome=outcome, context=context)
    stack.hook.lamina_on_task_error(spec=spec, outcome=failed, error=ValueError("bad row"),
                                    context=context)
    stack.hook.lamina_after_artifact_load(ref=ref, value=[1, 2], stack=stack)
    stack.hook.lamina_on_run_error(run=_run("failed"), error=RuntimeError("1 task failed"),
                                   stack=stack)
    stack.hook.lamina_alert(name="drift:age", severity="warning", message="drifted",
                            details={"p": 0.01}, stack=stack)

    events = read(installed / "logs" / "audit.jsonl")
    assert [e["event"] for e in events] == [
        "run.started", "task.started", "artifact.saving", "artifact.saved", "task.succeeded",
        "task.failed", "artifact.loaded", "run.failed", "alert",
    ]
    started = events[0]
    assert (started["run_id"], started["flow"], started["user"], started["params"]) == (
        "r-1", "churn", "ada", {"alpha": 0.3}
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", started["time"])
    task = events[1]
    assert (task["step"], task["index"], task["attempt"]) == ("train", 3, 1)
    assert task["user"]  # the login name of whoever ran the task
    assert events[3] == {**events[3], "step": "train", "index": 3, "created": True, "size": 10}
    assert events[4]["duration"] == 2.5 and events[4]["output"] == "ab" * 32
    assert events[5]["error"] == "ValueError: bad row" and events[5]["location"] == "flow.py:12"
    assert events[7]["error"] == "RuntimeError: 1 task failed"


def test_default_path_and_env_override(installed, monkeypatch):
    stack = Stack.load(cwd=installed)
    stack.hook.lamina_after_run(run=_run("succeeded"), stack=stack)
    assert read(installed / ".lamina" / "audit.jsonl")[0]["event"] == "run.succeeded"
    other = installed / "ops" / "audit.log"
    monkeypatch.setenv("LAMINA_AUDIT_LOG", str(other))
    stack = Stack.load(cwd=installed)
    stack.hook.lamina_before_run(run=_run(), stack=stack)
    assert read(other)[0]["event"] == "run.started"


def test_bad_plugin_options_name_the_table(installed):
    (installed / "lamina.toml").write_text(textwrap.dedent("""
        [plugins.audit]
        pth = "x.jsonl"
    """))
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=installed)
    assert "lamina.toml:3: [plugins.audit]: unknown option 'pth'" in str(err.value)
    assert "did you mean 'path'" in str(err.value)


def test_disabled_by_config(installed):
    (installed / "lamina.toml").write_text('disable_plugins = ["audit"]\n[plugins.audit]\n')
    stack = Stack.load(cwd=installed)
    assert stack.plugins.plugin_info("audit") is None
    stack.hook.lamina_before_run(run=_run(), stack=stack)
    assert not (installed / ".lamina" / "audit.jsonl").exists()


def test_required_plugin_satisfied_once_installed(installed):
    (installed / "lamina.toml").write_text('required_plugins = ["lamina-audit-log>=0.1"]\n')
    assert Stack.load(cwd=installed).plugins.plugin_info("audit") is not None


def test_a_real_run_is_audited(tmp_path, audit_plugin):  # noqa: F811
    shutil.copy(Path(__file__).parent / "flows" / "client_numbers.py", tmp_path / "flow.py")
    (tmp_path / "lamina.toml").write_text(
        '[stacks.local]\ncompute = { plugin = "local", workers = 2 }\n'
        '[plugins.audit]\npath = "audit.jsonl"\n'
    )
    proc = run_lamina(["run", "flow.py"], cwd=tmp_path, paths=[audit_plugin])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = read(tmp_path / "audit.jsonl")
    names = [e["event"] for e in events]
    assert names[0] == "run.started" and names[-1] == "run.succeeded"
    (run_id,) = {e["run_id"] for e in events if "run_id" in e}
    finished = sorted((e["step"], e["index"]) for e in events if e["event"] == "task.succeeded")
    assert finished == [("numbers", 0), ("square", 0), ("square", 1), ("square", 2),
                        ("total", 0)]
    saved = [e for e in events if e["event"] == "artifact.saved" and e.get("step") == "total"]
    assert saved and saved[0]["run_id"] == run_id
    assert len({e["pid"] for e in events if e["event"] == "task.started"}) >= 1

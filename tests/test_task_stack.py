"""Remote tasks run on the run's own stack, and task hooks see it.

A third-party-style plugin (``tests/task_fixtures/sized``, installed with a real installer
and found through its entry point) offers a datastore wrapping the file datastore with a
size limit and a write log, a task hook that reads its settings through ``context.stack``,
and a compute that runs every task as a ``python -m lamina task`` process with the
command every remote backend launches. The wrapper's effect must be seen in those task
processes: before, they rebuilt a plain file datastore from the URL and bypassed it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from client_util import cli_env, copy_flow, load
from kernel_fixtures.helpers import install_all

from lamina.errors import ConfigError, RunFailedError
from lamina.runtime.layout import run_manifest_key

HERE = Path(__file__).resolve().parent
TOKEN = "s3cr3t-value-of-the-token"
LIMIT = 60_000


@pytest.fixture(scope="session")
def sized_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sized-plugin")
    return install_all(base, {"sized": HERE / "task_fixtures" / "sized"})["sized"]


def _config(root: Path, hook_log: Path, token: str = '"${SIZED_TOKEN}"') -> None:
    datastore = f'{{ plugin = "sized", url = "store", max_bytes = {LIMIT}, token = {token} }}'
    (root / "lamina.toml").write_text(
        'default_stack = "remote"\n\n'
        "[stacks.remote]\n"
        f"datastore = {datastore}\n"
        'compute = "subprocess"\n'
        'metadata = { plugin = "sqlite", path = "meta/metadata.db" }\n\n'
        "[stacks.local]\n"
        f"datastore = {datastore}\n"
        'metadata = { plugin = "sqlite", path = "meta/metadata.db" }\n\n'
        "[plugins.sized]\n"
        f'hook_log = "{hook_log}"\n'
    )


@pytest.fixture
def sized(tmp_path: Path, sized_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A project on the sized datastore; task processes run in another folder and see
    the plugin, the token and nothing else of the test's environment."""
    monkeypatch.syspath_prepend(str(sized_plugin))
    for key in [k for k in os.environ if k.startswith("LAMINA_")]:
        monkeypatch.delenv(key)
    root = tmp_path / "project"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hook_log = tmp_path / "hooks.jsonl"
    commands = tmp_path / "commands.jsonl"
    _config(root, hook_log)
    path = copy_flow("task_sized.py", root)
    env = cli_env(
        PYTHONPATH=str(sized_plugin), SIZED_TOKEN=TOKEN, SIZED_COMMANDS=str(commands),
        SIZED_TASK_CWD=str(elsewhere), TMPDIR=str(scratch),
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return SimpleNamespace(root=root, flow=load(path), hook_log=hook_log, commands=commands,
                           store=root / "store", elsewhere=elsewhere)


def _stack(project: SimpleNamespace, name: str = "remote", **env: str):
    from lamina.stack import Stack

    return Stack.load(name, cwd=project.root, env={**os.environ, **env})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_remote_tasks_write_through_the_stacks_own_datastore(sized) -> None:
    with _stack(sized) as stack:
        run = sized.flow.run(stack=stack)
        manifest = stack.artifacts.get_json(run_manifest_key(run.id))
    assert run.status == "succeeded" and run["total"].task.value == 10 + 20 + 30

    # every task was a `python -m lamina task` process given the datastore's spec
    commands = [json.loads(line) for line in sized.commands.read_text().splitlines()]
    assert len(commands) == 5
    for cmd in commands:
        assert cmd[1:4] == ["-m", "lamina", "task"]
        spec = json.loads(cmd[cmd.index("--datastore-spec") + 1])
        assert spec["component"] == "sized"
        assert spec["options"]["token"] == "${SIZED_TOKEN}"  # the reference, never the value
        assert "--datastore" not in cmd

    # the wrapper saw the task processes' writes (results and captured output), with the
    # token they read from their own environment
    writes = _lines(sized.store / "sized-writes.log")
    task_writes = [w for w in writes if w["argv"] == ["task", "--datastore-spec"]]
    assert len(task_writes) >= 5 and {w["pid"] for w in task_writes} != {os.getpid()}
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()[:16]
    assert {w["token"] for w in task_writes} == {digest}

    # the task hook read its settings from the stack it was given, in the task process
    hooks = _lines(sized.hook_log)
    tasks = [("numbers", 0), ("blob", 0), ("blob", 1), ("blob", 2), ("total", 0)]
    assert sorted(h["task"] for h in hooks) == sorted(f"{run.id}/{s}/{i}" for s, i in tasks)
    assert all(h["datastore"] == "sized" and h["max_bytes"] == LIMIT for h in hooks)
    assert all(h["stack"] == "remote" and h["manifest_flow"] == "task-sized" for h in hooks)
    assert os.getpid() not in {h["pid"] for h in hooks}

    # the run recorded its stack: raw options, the reference kept, the plugin's table
    recorded = manifest["stack"]
    assert recorded["components"]["datastore"]["component"] == "sized"
    assert recorded["components"]["datastore"]["distribution"] == "lamina-test-sized"
    assert recorded["components"]["datastore"]["options"]["max_bytes"] == LIMIT
    assert recorded["components"]["compute"] == {
        "component": "subprocess", "distribution": "lamina-test-sized", "version": "0.3.0",
        "origin": "config", "options": {},
    }
    assert recorded["components"]["orchestrator"]["origin"] == "default"
    assert recorded["plugins"]["sized"]["options"] == {"hook_log": str(sized.hook_log)}


def test_the_token_is_stored_nowhere_in_the_datastore(sized) -> None:
    with _stack(sized) as stack:
        sized.flow.run(stack=stack)
    needle = TOKEN.encode()
    files = [p for p in sized.store.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert not [p for p in files if needle in p.read_bytes()]


def test_a_remote_task_enforces_the_wrappers_limit(sized) -> None:
    with _stack(sized) as stack, pytest.raises(RunFailedError) as failed:
        sized.flow.run(stack=stack, size=LIMIT // 2)  # blob 1 and 2 are over the limit
    run = failed.value.run
    tasks = {t.index: t for t in run["blob"].tasks}
    assert tasks[0].record.status == "succeeded"
    assert tasks[1].record.status == "failed"
    assert "SizeLimitError" in tasks[1].record.error and "max_bytes=60000" in tasks[1].record.error
    refused = [w for w in _lines(sized.store / "sized-writes.log") if w["what"] == "refused"]
    assert refused and all(w["argv"] == ["task", "--datastore-spec"] for w in refused)


def test_a_task_hook_reads_the_stack_in_a_local_run(sized) -> None:
    with _stack(sized, "local") as stack:
        run = sized.flow.run(stack=stack)
    hooks = _lines(sized.hook_log)
    assert len(hooks) == 5 and all(h["run"] == run.id for h in hooks)
    assert all(h["stack"] == "local" and h["max_bytes"] == LIMIT for h in hooks)
    assert not sized.commands.exists()  # the local compute: no task process


def test_the_url_fallback_still_rebuilds_the_recorded_datastore(sized) -> None:
    with _stack(sized) as stack:
        run = sized.flow.run(stack=stack)
    record = sized.store / "runs" / run.id / "tasks" / "blob" / "1.json"
    record.unlink()
    before = len(_lines(sized.store / "sized-writes.log"))
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", str(sized.store),
         "--run", run.id, "--step", "blob", "--index", "1"],
        cwd=sized.elsewhere, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(record.read_text())["status"] == "succeeded"
    # the writes went through the wrapper, rebuilt from the run's record
    assert len(_lines(sized.store / "sized-writes.log")) > before


def test_a_variable_unset_where_the_task_runs_is_named(sized, monkeypatch) -> None:
    with _stack(sized) as stack:  # the launcher has the token...
        monkeypatch.delenv("SIZED_TOKEN")  # ...the task processes do not
        with pytest.raises(RunFailedError) as failed:
            sized.flow.run(stack=stack)
    stderr = failed.value.run["numbers"].task.stderr
    assert "option 'token' uses the environment variable SIZED_TOKEN" in stderr
    assert "not set where this task runs" in stderr and "set SIZED_TOKEN" in stderr


def test_a_secret_from_the_secrets_file_is_not_recorded_and_the_task_says_so(sized) -> None:
    _config(sized.root, sized.hook_log, token='"placeholder"')
    (sized.root / "lamina.secrets.toml").write_text(
        f'[stacks.remote.datastore]\ntoken = "{TOKEN}"\n'
    )
    with _stack(sized) as stack:
        with pytest.raises(RunFailedError) as failed:
            sized.flow.run(stack=stack)
        manifest = stack.artifacts.get_json(run_manifest_key(failed.value.run.id))
    entry = manifest["stack"]["components"]["datastore"]
    assert "token" not in entry["options"] and entry["missing"] == {"token": "secrets-file"}
    stderr = failed.value.run["numbers"].task.stderr
    assert "option 'token' was not recorded with the run" in stderr
    assert "lamina.secrets.toml" in stderr and 'token = "${VAR}"' in stderr
    files = [p for p in sized.store.rglob("*") if p.is_file()]
    assert not [p for p in files if TOKEN.encode() in p.read_bytes()]


def test_a_literal_credential_is_not_recorded(sized) -> None:
    from lamina.config.recorded import record_stack

    _config(sized.root, sized.hook_log, token=f'"{TOKEN}"')
    with _stack(sized) as stack:
        record = record_stack(stack)
    assert record["components"]["datastore"]["missing"] == {"token": "literal-secret"}
    assert TOKEN not in json.dumps(record)


def test_from_manifest_fails_late_for_a_layer_it_cannot_rebuild(sized) -> None:
    from lamina.config.recorded import record_stack
    from lamina.stack import Stack

    with _stack(sized) as stack:
        record = record_stack(stack)
    record["components"]["compute"]["component"] = "not-installed"
    rebuilt = Stack.from_manifest(record, env={"SIZED_TOKEN": TOKEN})
    assert rebuilt.datastore.options.max_bytes == LIMIT  # what the task needs works
    with pytest.raises(Exception, match="not-installed"):
        rebuilt.compute  # noqa: B018 - the layer fails when it is used
    with pytest.raises(ConfigError, match="SIZED_TOKEN"):
        Stack.from_manifest(record, env={})  # the datastore is checked at once


def test_a_recorded_plugin_table_absent_here_is_a_warning(sized) -> None:
    from lamina.config.recorded import record_stack
    from lamina.stack import Stack

    with _stack(sized) as stack:
        record = record_stack(stack)
    record["plugins"]["ghost"] = {"options": {"level": 3}}
    record["plugins"]["sized"]["missing"] = {"api_token": "secrets-file"}
    with pytest.warns(UserWarning) as warned:
        rebuilt = Stack.from_manifest(record, env={"SIZED_TOKEN": TOKEN})
    texts = [str(w.message) for w in warned]
    assert any("'ghost'" in t and "not installed here" in t for t in texts)
    assert any("[plugins.sized] option 'api_token' was not recorded" in t for t in texts)
    assert rebuilt.config.plugins == {"sized": {"hook_log": str(sized.hook_log)}}

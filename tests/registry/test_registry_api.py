"""Register, alias, promote and history through the Python API, the Client and the CLI;
the lifecycle hooks trackers observe; namespaces; errors that name the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lamina import Client, hookimpl, registry
from lamina.errors import ModelNotFoundError, ModelRegistryError
from lamina.kernel.pluginmanager import PluginManager
from lamina.namespaces import resolve_branch
from lamina.stack import Stack


class Recorder:
    """A plugin that records the registry's lifecycle hooks, as a tracker would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    @hookimpl
    def lamina_model_registered(self, version: Any, stack: Any) -> None:
        self.calls.append(("registered", version, None))

    @hookimpl
    def lamina_model_promoted(self, version: Any, change: Any, stack: Any) -> None:
        self.calls.append(("promoted", version, change))


def _stack(project: Path, *plugins: object, user: str = "ana") -> Stack:
    pm = PluginManager()
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"recorder-{i}")
    stack = Stack.load(cwd=project, plugins=pm, env={})
    stack.branch = resolve_branch(user=user, project=stack.config.project)
    return stack


def lamina(project: Path, *args: str, user: str = "ana") -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=project, text=True,
                          capture_output=True, env={**env, "LAMINA_USER": user}, timeout=120)


def test_register_promote_and_history_call_the_hooks(trained: Any) -> None:
    recorder = Recorder()
    stack = _stack(trained.project, recorder, user="reg-api")
    good = trained.refs["good"]
    run_id = good.split("/")[1]
    v1 = registry.register_model("churn", f"{run_id}/model", metadata={"auc": 0.81},
                                 stack=stack)
    v2 = registry.register_model("churn", good, stack=stack)  # FLOW/RUN/STEP works too
    assert (v1.version, v2.version) == (1, 2)
    assert v1.ref == good and v1.run_id == run_id and v1.namespace == "user:reg-api"
    assert v1.registered_by == "reg-api" and v1.registered_at.endswith("+00:00")
    assert v1.metadata["auc"] == 0.81 and v1.metadata["type"] == "lamina.serving.model.Model"

    first = registry.promote("churn", 1, "champion", reason="first model", stack=stack)
    assert (first.version, first.previous, first.user, first.reason) == (1, None, "reg-api",
                                                                        "first model")
    moved = registry.promote("churn", 2, "champion", reason="retrained", stack=stack)
    assert moved.previous == 1
    registry.promote("churn", 1, "challenger", stack=stack)
    assert registry.resolve("model:churn@champion", stack=stack).version == 2
    assert registry.resolve("model:churn/1", stack=stack).aliases == ("challenger",)
    assert registry.resolve("churn", stack=stack).version == 2  # the newest
    removed = registry.remove_alias("churn", "challenger", reason="done", stack=stack)
    assert removed.version is None and removed.previous == 1
    with pytest.raises(ModelNotFoundError, match="no alias 'challenger'"):
        registry.resolve("model:churn@challenger", stack=stack)

    history = registry.history("churn", stack=stack)
    assert [(c.alias, c.version, c.previous, c.reason) for c in history] == [
        ("champion", 1, None, "first model"), ("champion", 2, 1, "retrained"),
        ("challenger", 1, None, ""), ("challenger", None, 1, "done")]
    assert all(c.user == "reg-api" and c.at for c in history)

    kinds = [(kind, v.version, c.alias if c else None) for kind, v, c in recorder.calls]
    assert kinds == [("registered", 1, None), ("registered", 2, None),
                     ("promoted", 2 - 1, "champion"), ("promoted", 2, "champion"),
                     ("promoted", 1, "challenger"), ("promoted", 1, "challenger")]
    # the hook gets the version as it is after the move (aliases included)
    assert recorder.calls[3][1].aliases == ("champion",)

    # a notebook's view
    model = Client(stack).model("churn@champion")
    assert model.number == 2 and model.ref == good
    import numpy as np

    loaded = model.load(trust=True)
    assert loaded.bind()(np.array([[1.0, 50.0, 6.0], [9.0, 50.0, 0.0]])).tolist() == [1, 0]
    assert Client(stack).models() == ["churn"]


def test_versions_live_in_the_namespace_they_were_registered_in(trained: Any) -> None:
    (trained.project / "lamina.toml").write_text('project = "shop"\n')
    try:
        mine = _stack(trained.project, user="nsa")
        prod = _stack(trained.project, user="nsa")
        prod.branch = resolve_branch(user="nsa", project="shop", production=True)
        other = _stack(trained.project, user="nsb")
        assert registry.register_model("fraud", trained.refs["good"], stack=mine).version == 1
        assert registry.register_model("fraud", trained.refs["good"], stack=mine).version == 2
        in_prod = registry.register_model("fraud", trained.refs["good"], stack=prod)
        assert in_prod.version == 1 and in_prod.namespace == "project:shop/branch:prod"
        assert mine.branch.namespace == "project:shop/branch:nsa"
        assert [v.version for v in registry.versions("fraud", stack=mine)] == [1, 2]
        with pytest.raises(ModelNotFoundError) as info:
            registry.resolve("model:fraud", stack=other)
        assert "project:shop/branch:nsb" in str(info.value) and "--production" in str(info.value)
    finally:
        (trained.project / "lamina.toml").unlink()


def test_bad_references_and_names_say_what_to_write(trained: Any) -> None:
    stack = _stack(trained.project, user="reg-err")
    for ref, message in [("model:", "not a valid name"), ("model:churn/x", "not a number"),
                         ("model:churn@", "empty alias"), ("model:ch urn", "not a valid name"),
                         ("model:churn/0", "not a number >= 1")]:
        with pytest.raises(ModelRegistryError, match=message) as info:
            registry.resolve(ref, stack=stack)
        assert "model:churn@champion" in str(info.value.hint)
    with pytest.raises(ModelRegistryError, match="does not name a step"):
        registry.register_model("churn", "nothing", stack=stack)
    with pytest.raises(ModelRegistryError, match="no run 'feedface'"):
        registry.register_model("churn", "feedface/model", stack=stack)
    with pytest.raises(ModelRegistryError, match="alias '7' is all digits"):
        registry.promote("x", 1, "7", stack=stack)
    with pytest.raises(ModelNotFoundError, match="no model named 'ghost'") as info:
        registry.promote("ghost", 1, stack=stack)
    assert "lamina model register" in str(info.value.hint)
    registry.register_model("churn", trained.refs["good"], stack=stack)
    with pytest.raises(ModelNotFoundError, match="no version 5"):
        registry.promote("churn", 5, stack=stack)


def test_the_cli_registers_promotes_and_shows_the_history(trained: Any) -> None:
    project = trained.project
    run_id = trained.refs["flipped"].split("/")[1]
    done = lamina(project, "model", "register", f"{run_id}/model", "--name", "cli-churn",
                  "--meta", "note=<b>first</b>", user="cli")
    assert done.returncode == 0, done.stderr
    assert "registered cli-churn version 1 ->" in done.stdout
    promoted = lamina(project, "model", "promote", "cli-churn", "1", "--alias", "champion",
                      "--reason", "shipping it", user="cli")
    assert promoted.returncode == 0 and "cli-churn@champion -> version 1" in promoted.stdout
    shown = lamina(project, "model", "show", "cli-churn@champion", user="cli")
    assert shown.returncode == 0 and "@champion" in shown.stdout
    assert "note: <b>first</b>" in shown.stdout and "gate: none (no checks run)" in shown.stdout
    history = lamina(project, "model", "history", "cli-churn", "--json", user="cli")
    (move,) = json.loads(history.stdout)
    assert (move["alias"], move["version"], move["user"], move["reason"]) == (
        "champion", 1, "cli", "shipping it")
    removed = lamina(project, "model", "alias", "cli-churn", "champion", "--remove",
                     "--reason", "bad", user="cli")
    assert removed.returncode == 0 and "removed cli-churn@champion (was 1)" in removed.stdout
    listed = lamina(project, "model", "list", "--json", user="cli")
    assert json.loads(listed.stdout) == [{"name": "cli-churn", "versions": 1, "latest": 1,
                                          "aliases": {}}]
    # another user's namespace does not see it
    assert "no models registered in user:someone" in lamina(project, "model", "list",
                                                            user="someone").stdout
    bad = lamina(project, "model", "promote", "cli-churn", "3", user="cli")
    assert bad.returncode == 1 and "has no version 3" in bad.stderr and "fix:" in bad.stderr


def test_a_step_registers_its_own_output_once_it_is_stored(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import shutil

    from registry_util import FLOW, run_flow

    monkeypatch.chdir(tmp_path)
    shutil.copy(FLOW, tmp_path / "churn_flow.py")
    ref = run_flow(tmp_path, n=500, register_as="in-flow")
    stack = Stack.load(cwd=tmp_path, env={})
    (version,) = registry.versions("in-flow", stack=stack)
    assert version.ref == ref and version.metadata["variant"] == "good"
    assert version.metadata["artifact"] == Client(stack).run(ref.split("/")[1])["model"].task.ref.key
    from lamina import current

    with pytest.raises(Exception, match="outside a running step"):
        current.register_model("x")

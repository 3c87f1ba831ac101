"""Hooks are called through pluggy: its order (tryfirst/trylast), wrappers and tracing
hold, and one plugin's failure is named while the others still answer."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from kernel_fixtures.helpers import fake_plugins, lamina_env, run_lamina  # noqa: F401

from lamina import hookimpl
from lamina.kernel.pluginmanager import PluginManager
from lamina.monitoring.alerts import Alert, send_alerts
from lamina.stack import Stack


def _stack(tmp_path: Path, *plugins: tuple[str, object]) -> Stack:
    pm = PluginManager(autoload=False)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return Stack.load(cwd=tmp_path, plugins=pm, env={})


class _Says:
    def __init__(self, word: str) -> None:
        self.word = word

    @hookimpl
    def lamina_validate_stack(self, stack):
        return [self.word]


class _First(_Says):
    @hookimpl(tryfirst=True)
    def lamina_validate_stack(self, stack):
        return [self.word]


class _Last(_Says):
    @hookimpl(trylast=True)
    def lamina_validate_stack(self, stack):
        return [self.word]


def test_tryfirst_runs_first_and_trylast_last(tmp_path):
    # registered in the order that a hand-written loop over get_hookimpls() reverses
    stack = _stack(tmp_path, ("first", _First("first")), ("plain", _Says("plain")),
                   ("last", _Last("last")))
    assert stack.validate() == ["first", "plain", "last"]


class _Wrapper:
    @hookimpl(wrapper=True)
    def lamina_validate_stack(self, stack):
        problems = yield
        return [*problems, ["wrapped: " + ", ".join(p for ps in problems for p in ps)]]


def test_a_wrapper_on_validate_stack_sees_and_extends_the_results(tmp_path):
    stack = _stack(tmp_path, ("a", _Says("a")), ("wrap", _Wrapper()), ("b", _Says("b")))
    assert stack.validate() == ["b", "a", "wrapped: b, a"]


class _Raises:
    @hookimpl
    def lamina_validate_stack(self, stack):
        raise RuntimeError("validator crashed")


def test_a_failing_validator_is_named_and_the_others_still_answer(tmp_path):
    stack = _stack(tmp_path, ("a", _Says("a")), ("crash", _Raises()), ("b", _Says("b")))
    problems = stack.validate()
    assert "b" in problems and "a" in problems
    crashed = [p for p in problems if "crash" in p]
    assert crashed == ["plugin 'crash': lamina_validate_stack raised RuntimeError: "
                       "validator crashed"]


class _Channel:
    def __init__(self, sent: list[str], name: str, fail: bool = False) -> None:
        self.sent, self.name, self.fail = sent, name, fail

    @hookimpl
    def lamina_alert(self, name, stack):
        self.sent.append(f"{self.name}:{name}")
        if self.fail:
            raise ConnectionError("channel down")


def test_alerts_reach_every_working_channel_exactly_once(tmp_path, caplog):
    sent: list[str] = []
    stack = _stack(tmp_path, ("one", _Channel(sent, "one")), ("down", _Channel(sent, "down", True)),
                   ("two", _Channel(sent, "two")))
    with caplog.at_level(logging.ERROR, logger="lamina.monitoring"):
        assert send_alerts(stack, [Alert("drift:age", "warning", "drifted", {})]) == 1
    assert sorted(sent) == ["down:drift:age", "one:drift:age", "two:drift:age"]
    assert any("plugin 'down'" in r.getMessage() and "ConnectionError: channel down"
               in r.getMessage() for r in caplog.records)


def test_tracing_prints_each_hook_call_and_its_result(tmp_path):
    lines: list[str] = []
    pm = PluginManager(autoload=False)
    pm.enable_tracing(lines.append)
    pm.register(_Says("traced"), name="says")
    Stack.load(cwd=tmp_path, plugins=pm, env={}).validate()
    text = "".join(lines)
    assert "lamina_validate_stack" in text and "traced" in text
    assert "lamina_datastores" in text  # components are collected through pluggy too


def test_tracing_by_environment_variable(tmp_path):
    code = ("from lamina.kernel.pluginmanager import PluginManager\n"
            "PluginManager(autoload=False).components()\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=lamina_env([], LAMINA_TRACE_HOOKS="1"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "lamina_compute_backends" in proc.stderr
    quiet = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                           text=True, env=lamina_env([]), timeout=60)
    assert "lamina_compute_backends" not in quiet.stderr


class _BadComponents:
    @hookimpl
    def lamina_compute_backends(self):
        raise ImportError("no module named 'missing_sdk'")


def test_a_failing_component_hook_is_reported_once(tmp_path):
    pm = PluginManager(autoload=False)
    pm.register(_BadComponents(), name="badcomp")
    pm.components()
    pm.register(_Says("x"), name="later")  # invalidates the component cache
    pm.components()
    assert [b.name for b in pm.broken] == ["badcomp"]
    assert "lamina_compute_backends() failed: ImportError" in pm.broken[0].error
    assert {c.name for c in pm.components_of("compute")} == {"local"}


def test_a_misspelled_hook_in_an_unrelated_plugin_warns_and_check_fails(tmp_path, fake_plugins):  # noqa: F811
    (tmp_path / "flow.py").write_text(
        "from lamina import Flow\nflow = Flow('one')\n\n@flow.step\ndef a() -> int:\n"
        "    return 1\n")
    run = run_lamina(["run", "flow.py"], cwd=tmp_path, paths=[fake_plugins["typo"]])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "implements unknown hook 'lamina_befor_run'" in run.stderr
    assert "does not use it, so the run goes on" in run.stderr
    assert "disable_plugins = ['faketypo']" in run.stderr
    assert "lamina_fake_typo" in run.stderr  # the plugin's file
    check = run_lamina(["stack", "check"], cwd=tmp_path, paths=[fake_plugins["typo"]])
    assert check.returncode != 0
    assert "implements unknown hook 'lamina_befor_run'" in check.stdout + check.stderr


def test_subset_callers_keep_pluggy_tracing(tmp_path):
    """Component collection uses pluggy's subset callers; they go through the manager's
    hook execution, so tracing and monitoring see them."""
    calls: list[str] = []
    pm = PluginManager(autoload=False)
    undo = pm.pm.add_hookcall_monitoring(lambda name, impls, kw: calls.append(name),
                                         lambda *a: None)
    try:
        pm.components()
    finally:
        undo()
    assert "lamina_datastores" in calls and isinstance(pm.pm, pluggy.PluginManager)


@pytest.mark.parametrize("disabled", [("features",), ("serving", "monitoring")])
def test_builtin_plugins_other_than_builtin_can_be_disabled(disabled):
    pm = PluginManager(autoload=False, disabled=disabled)
    names = [p.name for p in pm.loaded]
    assert names[0] == "builtin" and not set(disabled) & set(names)
    assert PluginManager(autoload=False, disabled=("builtin",)).loaded[0].name == "builtin"

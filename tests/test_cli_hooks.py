"""The CLI calls ``lamina_cli_commands`` through pluggy (order, wrappers, one failing
plugin left out and reported once), turns on hook tracing under ``-vv``, and prints an
error once."""

from __future__ import annotations

import argparse
import os

import pytest

from lamina import hookimpl
from lamina.cli import main as cli
from lamina.kernel.pluginmanager import PluginManager


class Adds:
    """A plugin adding the command ``name`` (``tryfirst``/``trylast`` as given)."""

    def __init__(self, name: str, **marks: bool) -> None:
        self.command = name

        def lamina_cli_commands(subparsers: argparse._SubParsersAction) -> None:
            subparsers.add_parser(name).set_defaults(handler=lambda args: 7)

        self.lamina_cli_commands = hookimpl(**marks)(lamina_cli_commands)


class Raises:
    @hookimpl
    def lamina_cli_commands(self, subparsers):
        subparsers.add_parser("half-added")  # then fails: the parser must not keep it
        raise RuntimeError("cannot build my parser")


class Wraps:
    """A new-style wrapper: adds a command after every other plugin has added theirs."""

    @hookimpl(wrapper=True)
    def lamina_cli_commands(self, subparsers):
        result = yield
        subparsers.add_parser("after-all", help=f"{len(subparsers.choices)} before me")
        return result


def manager(*plugins: tuple[str, object]) -> PluginManager:
    pm = PluginManager(autoload=False)
    for name, plugin in plugins:
        pm.register(plugin, name, distribution=f"dist-of-{name}", version="1.0")
    return pm


def commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def plugin_commands(parser: argparse.ArgumentParser) -> list[str]:
    core = commands(cli.build_parser())
    return [c for c in commands(parser) if c not in core]


def test_plugin_commands_follow_pluggy_order_tryfirst_first(capsys):
    pm = manager(
        ("late", Adds("late-cmd", trylast=True)),
        ("first", Adds("first-cmd", tryfirst=True)),
        ("plain-a", Adds("a-cmd")),
        ("plain-b", Adds("b-cmd")),
    )
    parser = cli.build_parser(pm)
    # pluggy: tryfirst, then the most recently registered first, trylast last
    assert plugin_commands(parser) == ["first-cmd", "b-cmd", "a-cmd", "late-cmd"]
    assert capsys.readouterr().err == ""


def test_a_wrapper_on_the_cli_hook_runs_around_the_others():
    pm = manager(("a", Adds("a-cmd")), ("wrap", Wraps()))
    parser = cli.build_parser(pm)
    assert plugin_commands(parser) == ["a-cmd", "after-all"]


def test_a_failing_plugin_is_left_out_and_reported_once(capsys):
    pm = manager(("a", Adds("a-cmd")), ("bad", Raises()), ("b", Adds("b-cmd")))
    parser = cli.build_parser(pm)
    assert plugin_commands(parser) == ["b-cmd", "a-cmd"]  # not "half-added"
    err = capsys.readouterr().err
    assert err.count("lamina: warning:") == 1
    assert "plugin 'bad' (dist-of-bad 1.0" in err
    assert "RuntimeError: cannot build my parser" in err
    assert "disable_plugins" in err
    assert parser.parse_args(["a-cmd"]).handler(None) == 7


def test_two_plugins_adding_one_command_the_second_is_reported(capsys):
    pm = manager(("one", Adds("same")), ("two", Adds("same")), ("other", Adds("o-cmd")))
    parser = cli.build_parser(pm)
    assert plugin_commands(parser) == ["o-cmd", "same"]
    err = capsys.readouterr().err
    assert err.count("lamina: warning:") == 1
    assert "plugin 'one' (dist-of-one 1.0" in err and "conflicting subparser" in err


def test_double_v_turns_on_hook_tracing_before_the_plugin_manager_is_built(monkeypatch):
    monkeypatch.setenv(cli.TRACE_HOOKS_ENV, "")  # restored (to unset) after the test
    seen: list[str | None] = []
    original = PluginManager.__init__

    def spy(self, *args, **kwargs):
        seen.append(os.environ.get(cli.TRACE_HOOKS_ENV))
        original(self, *args, **kwargs)

    monkeypatch.setattr(PluginManager, "__init__", spy)
    assert cli.main(["-v", "--version"]) == 0
    assert seen == [""]
    assert cli.main(["--version", "-vv"]) == 0
    assert cli.main(["-v", "-v", "--help"]) == 0
    assert seen == ["", "1", "1"]


def test_an_error_under_v_is_printed_once_after_its_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAMINA_STACK", raising=False)
    assert cli.main(["-v", "--stack", "nope", "stack", "show"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.count("Stack 'nope' (from the stack argument) is not defined") == 1
    assert err.count("fix: create lamina.toml") == 1
    assert "lamina: error: StackNotFoundError: Stack 'nope'" in err


@pytest.mark.parametrize("argv", [["--config"], ["--config", "--stack"]])
def test_a_usage_error_before_the_command_is_printed_once(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error: argument --config: expected one argument") == 1

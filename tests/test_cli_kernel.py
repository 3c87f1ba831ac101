"""``lamina``, ``lamina plugins`` and ``lamina stack ...`` run as real subprocesses against
really installed plugin distributions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from kernel_fixtures.helpers import fake_plugins, lamina_env, run_lamina  # noqa: F401

from lamina.cli.main import CORE_COMMAND_MODULES, main


@pytest.fixture
def project(tmp_path):
    def write(text: str):
        (tmp_path / "lamina.toml").write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return write


# ---------------------------------------------------------------- main() in process


def test_main_returns_exit_codes_and_never_exits(capsys):
    assert main(["--help"]) == 0
    assert "plugins" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert main([]) == 2
    assert main(["--version"]) == 0
    assert "lamina 0.1.0" in capsys.readouterr().out


def test_core_command_modules_each_register_a_command():
    import argparse
    import importlib

    for name in CORE_COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(name).register(sub)
        assert sub.choices, name


def test_lamina_error_is_printed_with_fix_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAMINA_STACK", raising=False)
    assert main(["--stack", "nope", "stack", "show"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lamina: error: Stack 'nope' (from the stack argument) is not defined")
    assert "  fix: create lamina.toml" in err


# ---------------------------------------------------------------- --help is cheap


def test_help_imports_no_heavy_module(tmp_path, fake_plugins):  # noqa: F811
    code = (
        "import sys\n"
        "from lamina.cli.main import main\n"
        "rc = main(['--help'])\n"
        "heavy = {'pyarrow', 'numpy', 'pandas', 'networkx', 'rich', 'structlog', 'fsspec',"
        " 'cloudpickle', 'cattrs'}\n"
        "print(sorted(m for m in sys.modules if m in heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env=lamina_env([fake_plugins["good"]]), timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fake-hello" in proc.stdout  # the plugin's command is in the help
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- lamina plugins


def test_plugins_lists_good_broken_conflicting_and_misspelled(tmp_path, fake_plugins):  # noqa: F811
    paths = [fake_plugins[n] for n in ("good", "broken", "dup_a", "dup_b", "typo")]
    proc = run_lamina(["plugins"], cwd=tmp_path, paths=paths)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "lamina 0.1.0\n  entry point: builtin = lamina.builtin.plugin\n" in out
    assert "  components:  datastore/file, compute/local, orchestrator/local, metadata/sqlite" in out
    assert "lamina-fake-good 1.2.0\n  entry point: fakegood = lamina_fake_good\n" \
        "  components:  compute/fakecompute\n" in out
    assert "lamina_cli_commands" in out
    broken = out.split("Broken plugins")[1]
    assert "lamina-fake-broken 0.3.0  entry point fakebroken = lamina_fake_broken" in broken
    assert "error: RuntimeError: boom: lamina_fake_broken cannot be imported" in broken
    assert "compute/twin is offered by lamina-fake-dup-" in out
    assert "plugin 'faketypo': lamina_befor_run (did you mean 'lamina_before_run'?)" in out
    assert "not decorated with @lamina.hookimpl (never called):\n  plugin 'faketypo': " \
        "lamina_after_run" in out


def test_plugins_json(tmp_path, fake_plugins):  # noqa: F811
    proc = run_lamina(["plugins", "--json"], cwd=tmp_path,
                      paths=[fake_plugins["good"], fake_plugins["broken"]])
    data = json.loads(proc.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["fakegood"]["components"] == [
        {"layer": "compute", "name": "fakecompute", "description": "a fake queue for lamina's tests"}
    ]
    assert [b["distribution"] for b in data["broken"]] == ["lamina-fake-broken"]


def test_plugins_autoload_disabled_by_env(tmp_path, fake_plugins):  # noqa: F811
    proc = run_lamina(["plugins"], cwd=tmp_path, paths=[fake_plugins["good"]],
                      LAMINA_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "lamina-fake-good" not in proc.stdout
    assert "autoloading is off" in proc.stdout


def test_disable_plugins_in_config(project, fake_plugins):  # noqa: F811
    cwd = project('disable_plugins = ["fakebroken"]\n')
    proc = run_lamina(["plugins"], cwd=cwd, paths=[fake_plugins["broken"], fake_plugins["good"]])
    assert "Broken plugins" not in proc.stdout
    assert "Disabled (disable_plugins): fakebroken" in proc.stdout
    assert "lamina-fake-good 1.2.0" in proc.stdout


def test_plugin_command_runs(tmp_path, fake_plugins):  # noqa: F811
    proc = run_lamina(["fake-hello", "--stack", "x"], cwd=tmp_path, paths=[fake_plugins["good"]])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello from lamina-fake-good, stack=x"


# ---------------------------------------------------------------- lamina stack


def test_stack_show_default_without_config(tmp_path):
    proc = run_lamina(["stack", "show"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Stack 'default' (embedded default, no config file)"
    assert "  datastore     file  from lamina 0.1.0 [default]" in lines
    assert '      url = ".lamina"' in lines
    assert "  metadata      sqlite  from lamina 0.1.0 [default]" in lines
    assert "  serving       (not set)" in lines
    # a layer that works unset says what serves it
    assert "  registry      builtin, on the metadata store  (implied: not set)" in lines
    assert not (tmp_path / ".lamina").exists()


def test_stack_show_json_from_plugin_and_masks_secrets(project, fake_plugins):  # noqa: F811
    cwd = project(
        """
        default_stack = "prod"
        [stacks.prod]
        compute = { plugin = "fakecompute", queue = "${QUEUE_NAME}" }
        """
    )
    proc = run_lamina(["stack", "show", "--json"], cwd=cwd, paths=[fake_plugins["good"]],
                      QUEUE_NAME="secret-queue")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stack"] == "prod"
    compute = next(x for x in data["layers"] if x["layer"] == "compute")
    assert (compute["component"], compute["distribution"], compute["version"]) == (
        "fakecompute", "lamina-fake-good", "1.2.0"
    )
    assert compute["options"] == {"queue": "****", "slots": 1, "reachable": True}
    assert "secret-queue" not in proc.stdout


def test_stack_list(project):
    cwd = project(
        """
        default_stack = "prod"
        [stacks.local]
        datastore = "file://.lamina"
        [stacks.prod]
        compute = { plugin = "local", workers = 4 }
        """
    )
    proc = run_lamina(["stack", "list"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Stacks in lamina.toml:",
        "  local",
        "    datastore     file://.lamina",
        "    compute       local (default)",
        "    orchestrator  local (default)",
        "    metadata      sqlite (default)",
        "* prod",
        "    compute       local (workers = 4)",
        "    datastore     file (default)",
        "    orchestrator  local (default)",
        "    metadata      sqlite (default)",
    ]


def test_global_options_after_the_command_and_env(project):
    cwd = project("[stacks.a]\n[stacks.b]\ncompute = { plugin = 'local', workers = 2 }\n")
    after = run_lamina(["stack", "show", "--stack", "b"], cwd=cwd)
    assert after.stdout.startswith("Stack 'b' (lamina.toml)")
    by_env = run_lamina(["stack", "show"], cwd=cwd, LAMINA_STACK="a")
    assert by_env.stdout.startswith("Stack 'a' (lamina.toml)")


def test_stack_show_and_check_take_the_stack_name_as_an_argument(project, monkeypatch, capsys):
    cwd = project("default_stack = 'a'\n[stacks.a]\n[stacks.b]\n"
                  "compute = { plugin = 'local', workers = 2 }\n")
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("LAMINA_STACK", raising=False)
    monkeypatch.setenv("LAMINA_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert main(["stack", "show", "b"]) == 0
    assert capsys.readouterr().out.startswith("Stack 'b' (lamina.toml)")
    assert main(["stack", "show", "b", "--json"]) == 0
    assert '"stack": "b"' in capsys.readouterr().out
    assert main(["--stack", "b", "stack", "show", "b"]) == 0  # the same name twice is fine
    assert capsys.readouterr().out.startswith("Stack 'b' (lamina.toml)")
    assert main(["stack", "check", "b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Checking stack 'b'") and "2 worker processes" in out
    assert main(["stack", "show"]) == 0  # no name: the config's default_stack
    assert capsys.readouterr().out.startswith("Stack 'a' (lamina.toml)")
    assert main(["stack", "check", "c"]) == 1
    assert "stack 'c' (from the stack argument) is not defined" in capsys.readouterr().err
    assert main(["stack", "check", "b", "--stack", "a"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lamina: error: two stacks named: 'b' and --stack 'a'")
    assert "fix: name one: `lamina stack check b`" in err


def test_stack_check_fails_for_an_unreachable_backend(project, fake_plugins):  # noqa: F811
    cwd = project('[stacks.s]\ncompute = { plugin = "fakecompute", queue = "q", '
                  'reachable = false }\n')
    proc = run_lamina(["stack", "check"], cwd=cwd, paths=[fake_plugins["good"]])
    assert proc.returncode == 1
    assert "FAIL compute       fakecompute: fake queue 'q' is unreachable" in proc.stdout
    assert "  fix: set reachable = true" in proc.stdout
    assert proc.stdout.rstrip().endswith("Stack check failed.")


def test_stack_check_reports_broken_plugins_and_passes_when_clean(project, fake_plugins):  # noqa: F811
    cwd = project('[stacks.s]\ncompute = { plugin = "fakecompute", queue = "q" }\n')
    ok = run_lamina(["stack", "check"], cwd=cwd, paths=[fake_plugins["good"]])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok   compute       fakecompute: fake queue 'q' answers" in ok.stdout
    bad = run_lamina(["stack", "check"], cwd=cwd,
                     paths=[fake_plugins["good"], fake_plugins["broken"]])
    assert bad.returncode == 1
    assert "plugin 'fakebroken' (lamina-fake-broken 0.3.0) failed to load" in bad.stdout


@pytest.mark.parametrize(
    ("config", "args", "expected"),
    [
        pytest.param('[stacks.a]\n', ["--stack", "prod"],
                     ["lamina.toml: stack 'prod' (from the stack argument) is not defined",
                      "Stacks: a"], id="unknown-stack"),
        pytest.param('[stacks.a]\ncompute = "kubernetes"\n', [],
                     ["lamina.toml:2: stack 'a', compute: No compute component named "
                      "'kubernetes' is installed. Installed: local (lamina).",
                      "no installed plugin offers compute 'kubernetes'"], id="unknown-component"),
        pytest.param('[stacks.a]\ncompute = { plugin = "local", wrkers = 2 }\n', [],
                     ["lamina.toml:2: stack 'a', compute (plugin 'local'): unknown option "
                      "'wrkers' (did you mean 'workers'?). Options: workers, "
                      "max_tasks_per_worker"], id="unknown-key"),
        pytest.param('[stacks.a]\n\ncompute = { plugin = "local", workers = 1.5 }\n', [],
                     ["lamina.toml:3: stack 'a', compute (plugin 'local'): option 'workers' "
                      "must be an integer, got 1.5 (float)"], id="wrong-type"),
        pytest.param('required_plugins = ["lamina-audit-log>=0.1"]\n', [],
                     ["lamina.toml:1: Missing required plugins: lamina-audit-log>=0.1 "
                      "(installed: none)", "fix: pip install 'lamina-audit-log>=0.1'"],
                     id="missing-required-plugin"),
        pytest.param('[stacks.a]\ncompute = "batch"\n', [],
                     ["lamina.toml:2: stack 'a', compute: No compute component named 'batch'",
                      "fix: pip install lamina-compute-batch"], id="plugin-not-installed"),
    ],
)
def test_bad_config_messages(project, config, args, expected):
    cwd = project(config)
    proc = run_lamina([*args, "stack", "show"], cwd=cwd, LAMINA_DISABLE_PLUGIN_AUTOLOAD="1")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("lamina: error: ")
    for text in expected:
        assert text in proc.stderr


def test_json_logging(tmp_path):
    proc = run_lamina(["-v", "--log-format", "json", "stack", "show"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    loaded = [e for e in events if e["event"].startswith("stack loaded: default")]
    assert loaded and loaded[0]["level"] == "info" and loaded[0]["logger"] == "lamina.stack"


def test_python_dash_m_lamina(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lamina", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, env=lamina_env([]), timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "lamina 0.1.0"


def test_a_run_only_warns_about_a_broken_plugin_it_does_not_need(project, fake_plugins):  # noqa: F811
    import shutil
    from pathlib import Path

    stack = '[stacks.local]\ncompute = { plugin = "local", workers = 1 }\n'
    cwd = project(stack)
    shutil.copy(Path(__file__).parent / "flows" / "client_numbers.py", cwd / "flow.py")
    ok = run_lamina(["run", "flow.py"], cwd=cwd, paths=[fake_plugins["broken"]])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ("lamina: warning: plugin 'fakebroken' (lamina-fake-broken 0.3.0) failed to load: "
            "RuntimeError: boom") in ok.stderr
    assert "`lamina plugins` shows the traceback" in ok.stderr
    # the same plugin, required by the project: the run must not start without it
    project('required_plugins = ["lamina-fake-broken"]\n' + stack)
    bad = run_lamina(["run", "flow.py"], cwd=cwd, paths=[fake_plugins["broken"]])
    assert bad.returncode == 1
    assert "stack 'local' is not usable: plugin 'fakebroken'" in bad.stderr
    assert "fix: lamina stack check" in bad.stderr

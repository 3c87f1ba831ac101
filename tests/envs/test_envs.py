"""Per-step environments, with the real uv and package index: a step imports a package
lamina's environment lacks, locally, resumed and on Dask; the second run resolves and
installs nothing; a bad requirement, an unreachable index or a missing uv stop the run
before any task with one line naming the step."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina import Client, Env, Flow
from lamina.errors import EnvironmentBuildError, FlowDefinitionError, RunFailedError
from lamina.flow.loader import load_flow_file
from lamina.runtime.envs import envs_dir
from lamina.runtime.layout import run_manifest_key
from lamina.stack import Stack

TABLES = ["0  0", "1  1", "2  4"]


def _manifest(root: Path, run_id: str) -> dict:
    return Stack.load(cwd=root, env={}).artifacts.get_json(run_manifest_key(run_id))


def _run(root: Path, **params):
    flow = load_flow_file(root / "env_flow.py")
    return flow.run(stack=Stack.load(cwd=root, env={}), **params)


def test_tabulate_is_not_in_lamina_environment() -> None:
    # what the other tests rely on: the step's package is absent here
    assert importlib.util.find_spec("tabulate") is None


def test_a_step_runs_in_its_environment_and_the_second_run_builds_nothing(
    env_project: Path, uv_calls
) -> None:
    first = _run(env_project)
    out = first["report"].value
    assert out["tables"] == TABLES
    assert out["here_has_tabulate"] is False  # `report` ran in lamina's own environment
    entry = _manifest(env_project, first.id)["envs"]["table"]
    assert out["prefixes"] == [str(envs_dir() / entry["key"])]  # every task in the env
    lock = Stack.load(cwd=env_project, env={}).artifacts.get_bytes(entry["lock"]).decode()
    assert "tabulate==" in lock and "--hash=sha256:" in lock
    assert entry["request"] == {"pip": ["tabulate>=0.9"], "python": "", "project": ""}

    env_folder = envs_dir() / entry["key"]
    built_at = env_folder.stat().st_mtime_ns
    before = len(uv_calls.calls())
    second = _run(env_project)
    assert second["report"].value == out
    assert len(uv_calls.calls()) == before  # no resolution, no install: uv never ran
    assert env_folder.stat().st_mtime_ns == built_at
    assert _manifest(env_project, second.id)["envs"]["table"]["key"] == entry["key"]
    # building ahead of time (an image): the same folder, found, nothing run
    flow = load_flow_file(env_project / "env_flow.py")
    assert flow.build_envs() == {"table": str(env_folder)}
    assert len(uv_calls.calls()) == before


def test_resume_uses_the_recorded_lock(env_project: Path, uv_calls, monkeypatch) -> None:
    with pytest.raises(RunFailedError):
        _run(env_project, fail=True)
    failed = Client(Stack.load(cwd=env_project, env={})).runs("env-demo")[0]
    # the index is now unreachable: a fresh resolution fails, the recorded lock does not
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with pytest.raises(EnvironmentBuildError, match=r"step 'table': cannot reach the package index"):
        _run(env_project)
    calls = len(uv_calls.calls())
    flow = load_flow_file(env_project / "env_flow.py")
    resumed = __import__("lamina").resume(
        failed.id, stack=Stack.load(cwd=env_project, env={}), flow=flow, fail=False)
    assert resumed["report"].value["tables"] == TABLES
    assert len(uv_calls.calls()) == calls  # the recorded lock's environment, as it was
    assert (_manifest(env_project, resumed.id)["envs"]["table"]
            == _manifest(env_project, failed.id)["envs"]["table"])


def test_an_unresolvable_requirement_fails_before_any_task(tmp_path, uv_calls, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    flow = Flow("bad-env")
    ran = tmp_path / "ran"

    @flow.step
    def first() -> int:
        ran.touch()
        return 1

    @flow.step(env=Env(pip=["tabulate==0.0.999"]))
    def second(first: int) -> int:
        return first

    with pytest.raises(EnvironmentBuildError) as err:
        flow.run(stack=Stack.load(cwd=tmp_path, env={}))
    message = str(err.value).splitlines()[0]
    assert message.startswith("step 'second': cannot resolve Env(pip=['tabulate==0.0.999'])")
    assert "tabulate" in message.split(":", 2)[2]
    assert not ran.exists()  # no task ran
    assert Client(Stack.load(cwd=tmp_path, env={})).runs("bad-env") == []


def test_a_missing_uv_is_named_with_the_fix(tmp_path, uv_calls, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAMINA_UV", str(tmp_path / "no-such-uv"))
    flow = Flow("no-uv")

    @flow.step(env=Env(pip=["tabulate==0.9.0"], python="3.11"))
    def only() -> int:
        return 1

    with pytest.raises(EnvironmentBuildError, match=r"^step 'only': uv \(.*no-such-uv\) cannot be started") as err:
        flow.run(stack=Stack.load(cwd=tmp_path, env={}))
    assert "pip install uv" in (err.value.hint or "")


def test_bad_env_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"Env\(python='py3'\): give a CPython version"):
        Env(python="py3")
    with pytest.raises(ValueError, match=r"Env\(pip=\.\.\.\): '' is not a requirement"):
        Env(pip=[""])
    flow = Flow("f")
    with pytest.raises(FlowDefinitionError, match=r"flow 'f': env= takes a lamina.Env, got list"):
        flow.step(env=["tabulate"])  # type: ignore[arg-type]
    with pytest.raises(FlowDefinitionError, match=r"flow 'g': env= takes a lamina.Env"):
        Flow("g", env="tabulate")  # type: ignore[arg-type]


def test_a_flow_wide_env_and_the_opt_out() -> None:
    flow = Flow("wide", env=Env(pip="tabulate"))

    @flow.step
    def a() -> int:
        return 1

    @flow.step(env=Env())
    def b(a: int) -> int:
        return a

    assert flow.step_env("a") == Env(pip=("tabulate",))
    assert flow.step_env("b") is None


def test_a_step_runs_in_its_environment_on_dask(env_project: Path, uv_calls, tmp_path) -> None:
    from dask_util import DaskCluster, dask_env, load_stack, make_project
    from envs_util import running

    node_envs = tmp_path / "node-envs"

    class NodeCluster(DaskCluster):
        """Workers that keep their environments in a folder of their own (a node)."""

        def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
            log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - kept for the process
            return subprocess.Popen(
                args, cwd=self.workdir, env={**dask_env(), "LAMINA_ENVS_DIR": str(node_envs)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    workdir = tmp_path / "cluster"
    workdir.mkdir()
    with running(NodeCluster(workdir)) as cluster:
        root = make_project(tmp_path / "p", cluster.address)
        (root / "env_flow.py").write_bytes((env_project / "env_flow.py").read_bytes())
        flow = load_flow_file(root / "env_flow.py")
        with load_stack(root) as stack:
            run = flow.run(stack=stack)
            entry = stack.artifacts.get_json(run_manifest_key(run.id))["envs"]["table"]
            out = run["report"].value
    assert out["tables"] == TABLES
    assert out["here_has_tabulate"] is False
    # built on the node from the recorded lock, in the node's own environments folder
    assert out["prefixes"] == [str(node_envs / entry["key"])]
    assert (node_envs / entry["key"] / "lamina.lock.txt").is_file()


def test_a_deployed_run_records_the_lock_and_lamina_task_runs_the_step_in_it(
    env_project: Path, uv_calls, tmp_path
) -> None:
    """What Kubernetes, Batch and the compiling orchestrators launch: `python -m lamina
    task`, in lamina's environment; the task builds the step's environment on the node
    from the recorded lock and runs there."""
    from lamina.deploy import build_deployment_plan
    from lamina.runtime.stepwise import prepare_step, start_run

    stack = Stack.load(cwd=env_project, env={})
    flow = load_flow_file(env_project / "env_flow.py")
    plan = build_deployment_plan(flow, stack)
    run_id = start_run(stack, flow="env-demo", deployment_id=plan.deployment_id)
    entry = stack.artifacts.get_json(run_manifest_key(run_id))["envs"]["table"]
    node_envs = tmp_path / "node-envs"
    url = stack.datastore.url
    for step, index in (("rows", 0), ("table", 1)):
        assert prepare_step(stack.artifacts, run_id, step) >= 1
        task = subprocess.run(
            [sys.executable, "-m", "lamina", "task", "--datastore", url, "--run", run_id,
             "--step", step, "--index", str(index)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "LAMINA_ENVS_DIR": str(node_envs)},
        )
        assert task.returncode == 0, task.stderr
    out = stack.artifacts.load(Client(stack).run(run_id)["table"][1].record.output)
    assert out == f"1  1|{node_envs / entry['key']}"
    stack.close()


def _other_python() -> Path | None:
    """A CPython of another minor version than this one on the machine (pyenv's), if any."""
    import glob

    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    for minor in ("3.12", "3.13"):
        if minor == mine:
            continue
        root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
        for found in sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}")):
            return Path(found)
    return None


OTHER_PYTHON_FLOW = """
import sys

from lamina import Env, Flow

flow = Flow("other-python")


@flow.step(env=Env(pip=["tabulate>=0.9"], python=MINOR))
def which() -> str:
    import tabulate  # noqa: F401

    return f"{sys.version_info.major}.{sys.version_info.minor}"


@flow.step
def back(which: str) -> list[str]:
    return [which, f"{sys.version_info.major}.{sys.version_info.minor}"]
"""


def test_a_step_on_another_python_version(tmp_path, uv_calls, monkeypatch) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no CPython 3.12 or 3.13 beside this one on the machine")
    minor = other.name.removeprefix("python")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    monkeypatch.setenv("PATH", f"{other.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.py").write_text(OTHER_PYTHON_FLOW.replace("MINOR", repr(minor)))
    run = load_flow_file(tmp_path / "other.py").run(stack=Stack.load(cwd=tmp_path, env={}))
    assert run["back"].value == [minor, here]
    lock = Stack.load(cwd=tmp_path, env={}).artifacts.get_bytes(
        _manifest(tmp_path, run.id)["envs"]["which"]["lock"]).decode()
    assert "pyarrow==" in lock  # lamina's own dependencies, built for that Python

    # steps sent by value (a notebook's flow) cannot cross Python versions: said so
    flow = Flow("by-value")

    @flow.step(env=Env(pip=["tabulate>=0.9"], python=minor))
    def only() -> int:
        return 1

    with pytest.raises(Exception, match=rf"step 'only' runs on Python {minor}, and the flow "
                       "'by-value' is not a module-level variable of a .py file"):
        flow.run(stack=Stack.load(cwd=tmp_path, env={}))


def test_show_lists_a_step_environment(env_project: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "lamina", "show", "env_flow.py"], cwd=env_project,
        capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    table_line = next(ln for ln in shown.stdout.splitlines() if ln.strip().startswith("table "))
    assert table_line.endswith("foreach rows  [Env(pip=['tabulate>=0.9'])]")


def test_no_uv_anywhere_says_how_to_install_it(monkeypatch) -> None:
    from lamina.runtime.envs import find_uv

    monkeypatch.delenv("LAMINA_UV", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "uv", None)  # `import uv` fails: not installed
    with pytest.raises(EnvironmentBuildError, match=r"^step 's' has an environment \(env=\), "
                       "which needs uv, and uv is not installed here") as err:
        find_uv("s")
    assert (err.value.hint or "").startswith("pip install uv")


PROJECT_FLOW = """
from lamina import Env, Flow

flow = Flow("project-env")


@flow.step(env=Env(project="deps"))
def table() -> str:
    import tabulate

    return tabulate.__version__
"""


def test_a_step_env_from_a_pyproject_and_from_its_uv_lock(tmp_path, uv_calls, monkeypatch) -> None:
    from lamina.runtime.envs import find_uv

    monkeypatch.chdir(tmp_path)
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "pyproject.toml").write_text(
        '[project]\nname = "deps"\nversion = "0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["tabulate>=0.9"]\n')
    (tmp_path / "flow.py").write_text(PROJECT_FLOW)
    stack = Stack.load(cwd=tmp_path, env={})
    resolved = load_flow_file(tmp_path / "flow.py").run(stack=stack)
    lock = stack.artifacts.get_bytes(_manifest(tmp_path, resolved.id)["envs"]["table"]["lock"])
    assert f"tabulate=={resolved['table'].value} " in lock.decode()  # the version it imported
    assert any(c.startswith("pip compile") for c in uv_calls.calls())

    # with a uv.lock beside it, that lock is used as it is: exported, nothing resolved
    subprocess.run([find_uv(), "lock", "--quiet", "--project", str(deps)], check=True)
    before = len(uv_calls.calls())
    locked = load_flow_file(tmp_path / "flow.py").run(stack=stack)
    assert locked["table"].value == resolved["table"].value
    assert [c.split()[0] for c in uv_calls.calls()[before:]] == ["export"]  # env reused
    with pytest.raises(EnvironmentBuildError, match=r"^step 'only': Env\(project='nowhere'\): .*nowhere does not exist"):
        flow = Flow("no-project")

        @flow.step(env=Env(project="nowhere"))
        def only() -> int:
            return 1

        flow.run(stack=stack)

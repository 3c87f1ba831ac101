"""Namespaces in runs, the Client, the CLI and ``lamina.current``: two people (alice and
bob, played with ``LAMINA_USER``) share one metadata store and never read each other's
runs by accident; projects, branches and production are recorded with every run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from client_util import cli_env, load, project_stack

from lamina import Client
from lamina.errors import ConfigError, NamespaceNotFoundError, OtherNamespaceError, RunNotFoundError

SOURCE = """
import os
from lamina import Flow

flow = Flow("ns-source")

@flow.step
def value() -> str:
    return "made by " + os.environ.get("LAMINA_USER", "")
"""

READER = """
from lamina import Client, Flow, current

flow = Flow("ns-reader")

@flow.step
def read() -> dict:
    latest = Client().latest_run("ns-source")  # another flow's latest result
    return {"namespace": current.namespace, "value": latest["value"].value,
            "run_namespace": latest.namespace}
"""

CURRENT = """
from lamina import Flow, current

flow = Flow("ns-current", project="churn")
FIELDS = ("namespace", "project", "branch", "is_production", "user", "task_id", "tags",
          "run_id")

@flow.step
def where() -> dict:
    return {name: getattr(current, name) for name in FIELDS}
"""


def write(root: Path, name: str, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(textwrap.dedent(body))
    return path


def as_user(monkeypatch: pytest.MonkeyPatch, user: str, root: Path) -> Any:
    """The project's stack as ``user`` sees it (a stack knows its user when it loads)."""
    monkeypatch.setenv("LAMINA_USER", user)
    return project_stack(root)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One store, oldest first: alice's source run, bob's source run (newer), then a
    reader run by alice that reads the source's latest result inside its step."""
    root = tmp_path_factory.mktemp("team")
    source = load(write(root, "source.py", SOURCE))
    reader = load(write(root, "reader.py", READER))
    with pytest.MonkeyPatch.context() as mp:
        alice = as_user(mp, "alice", root)
        alice_source = source.run(stack=alice)
        bob = as_user(mp, "bob", root)
        bob_source = source.run(stack=bob)
        alice = as_user(mp, "alice", root)
        alice_reader = reader.run(stack=alice)
    yield SimpleNamespace(root=root, alice_source=alice_source, bob_source=bob_source,
                          alice_reader=alice_reader)


def client(monkeypatch: pytest.MonkeyPatch, user: str, root: Path, **kw: Any) -> Client:
    return Client(as_user(monkeypatch, user, root), **kw)


# -- recorded ------------------------------------------------------------------------------


def test_every_run_records_its_user_and_namespace(team) -> None:
    for run, user in ((team.alice_source, "alice"), (team.bob_source, "bob")):
        record = run.record
        assert (record.user, record.namespace) == (user, f"user:{user}")
        assert (record.project, record.branch, record.production) == ("", "", False)


# -- the Client ----------------------------------------------------------------------------


def test_latest_run_is_each_users_own(team, monkeypatch) -> None:
    alice = client(monkeypatch, "alice", team.root)
    assert alice.namespace == "user:alice"
    assert alice.latest_run("ns-source").id == team.alice_source.id
    assert [r.id for r in alice.runs("ns-source")] == [team.alice_source.id]
    assert alice.flows() == ["ns-reader", "ns-source"]
    bob = client(monkeypatch, "bob", team.root)
    assert bob.latest_run("ns-source").id == team.bob_source.id
    assert bob.flows() == ["ns-source"]
    assert bob.run("ns-source/latest").id == team.bob_source.id
    with pytest.raises(RunNotFoundError, match="flow 'ns-reader' has no successful run in "
                       "namespace 'user:bob'") as info:
        bob.latest_run("ns-reader")
    assert "user:alice" in info.value.hint  # where the flow has runs


def test_the_global_view_sees_every_namespace(team, monkeypatch) -> None:
    everyone = client(monkeypatch, "carol", team.root, namespace=None)
    assert everyone.namespace is None
    assert [r.id for r in everyone.runs("ns-source")] == [team.bob_source.id,
                                                          team.alice_source.id]
    assert everyone.latest_run("ns-source").id == team.bob_source.id
    assert everyone.namespaces() == ["user:alice", "user:bob"]
    bobs = client(monkeypatch, "alice", team.root, namespace="user:bob")
    assert bobs.latest_run("ns-source").id == team.bob_source.id


def test_a_step_reading_another_flows_latest_result_stays_in_its_namespace(team) -> None:
    # bob's source run is newer; alice's reader still reads alice's
    read = team.alice_reader["read"].value
    assert read == {"namespace": "user:alice", "value": "made by alice",
                    "run_namespace": "user:alice"}


def test_a_run_named_by_id_from_another_namespace_says_where_it_is(team, monkeypatch) -> None:
    alice = client(monkeypatch, "alice", team.root)
    with pytest.raises(OtherNamespaceError) as info:
        alice.run(team.bob_source.id)
    message = str(info.value)
    assert "'user:bob'" in message and "'user:alice'" in message
    assert "Client(namespace='user:bob')" in info.value.hint and "--all" in info.value.hint
    assert client(monkeypatch, "alice", team.root, namespace=None).run(
        team.bob_source.id).id == team.bob_source.id


def test_a_namespace_without_runs_is_named_with_the_closest_one(team, monkeypatch) -> None:
    with pytest.raises(NamespaceNotFoundError) as info:
        client(monkeypatch, "alice", team.root, namespace="user:bbo").latest_run("ns-source")
    assert str(info.value).splitlines()[0] == (
        "namespace 'user:bbo' has no runs (did you mean 'user:bob'?)"
    )
    assert "user:alice, user:bob" in info.value.hint
    with pytest.raises(ConfigError, match="'bob' is not a namespace"):
        client(monkeypatch, "alice", team.root, namespace="bob")
    # a new user's own (empty) namespace is no error: there is just nothing yet
    assert client(monkeypatch, "dave", team.root).runs() == []


def test_a_record_written_before_namespaces_is_its_users(tmp_path, monkeypatch) -> None:
    from lamina.testing.metadata import make_run

    stack = as_user(monkeypatch, "erin", tmp_path)
    old = make_run("legacy", user="erin", namespace="", project="", branch="",
                   production=False, status="succeeded", pid=0)
    stack.metadata.create_run(old)
    erin = Client(stack)
    assert erin.latest_run("legacy").id == old.run_id
    assert erin.latest_run("legacy").namespace == "user:erin"
    assert client(monkeypatch, "frank", tmp_path).runs() == []


# -- the CLI -------------------------------------------------------------------------------


def lamina(root: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root,
                          env=cli_env(LAMINA_USER=user), capture_output=True, text=True,
                          timeout=120)


def test_cli_runs_reads_one_namespace_unless_told(team) -> None:
    def listed(user: str, *args: str) -> list[str]:
        proc = lamina(team.root, user, "runs", "ns-source", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return [r["id"] for r in json.loads(proc.stdout)]

    assert listed("alice") == [team.alice_source.id]
    assert listed("alice", "--namespace", "user:bob") == [team.bob_source.id]
    assert listed("alice", "--all") == [team.bob_source.id, team.alice_source.id]
    shown = lamina(team.root, "bob", "runs", "--all")
    assert shown.returncode == 0 and "every namespace" in shown.stderr
    assert "user:alice" in shown.stdout and "namespace" in shown.stdout.splitlines()[0]
    latest = lamina(team.root, "bob", "show", "ns-source/latest")
    assert latest.returncode == 0 and team.bob_source.id in latest.stdout
    assert "namespace user:bob" in latest.stdout
    missing = lamina(team.root, "bob", "runs", "--namespace", "user:alicee")
    assert missing.returncode == 1
    assert "namespace 'user:alicee' has no runs (did you mean 'user:alice'?)" in missing.stderr
    other = lamina(team.root, "bob", "show", team.alice_source.id)
    assert other.returncode == 1 and "--namespace user:alice" in other.stderr


# -- projects, branches, production and lamina.current ------------------------------------


def test_project_branches_and_production_are_recorded(tmp_path, monkeypatch) -> None:
    flow = load(write(tmp_path, "where.py", CURRENT))
    stack = as_user(monkeypatch, "alice", tmp_path)
    own = flow.run(stack=stack, tags=["t1"])
    named = flow.run(stack=stack, branch="exp")
    prod = flow.run(stack=stack, production=True)
    assert stack.branch.namespace == "user:alice"  # the stack's own branch is untouched
    expected = [
        (own, "project:churn/branch:alice", "alice", False),
        (named, "project:churn/branch:exp", "exp", False),
        (prod, "project:churn/branch:prod", "prod", True),
    ]
    for run, namespace, branch, production in expected:
        r = run.record
        assert (r.namespace, r.project, r.branch, r.production, r.user) == (
            namespace, "churn", branch, production, "alice")
        assert run["where"].value == {
            "namespace": namespace, "project": "churn", "branch": branch,
            "is_production": production, "user": "alice",
            "task_id": f"{run.id}/where/0", "tags": ("t1",) if run is own else (),
            "run_id": run.id,
        }
    # a project flow is read on the user's own branch of the project by default
    assert Client(stack, project="churn").latest_run("ns-current").id == own.id
    assert Client(stack, namespace="project:churn/branch:prod").latest_run(
        "ns-current").id == prod.id
    with pytest.raises(ConfigError, match="branch 'prod' is production"):
        flow.run(stack=stack, branch="prod")


def test_current_is_the_runs_in_spawned_and_remote_tasks(tmp_path, monkeypatch) -> None:
    root = tmp_path / "project"
    write(root, "lamina.toml",
          '[stacks.local]\ncompute = { plugin = "local", workers = 1, start_method = "spawn" }\n')
    path = write(root, "where.py", CURRENT)
    monkeypatch.setenv("LAMINA_USER", "alice")
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "run", "where.py", "--production", "--tag", "nightly"],
        cwd=root, env=cli_env(LAMINA_USER="alice"), capture_output=True, text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    stack = project_stack(root)
    run = Client(stack, namespace="project:churn/branch:prod").latest_run("ns-current")
    spawned = run["where"].value
    assert spawned["namespace"] == "project:churn/branch:prod"
    assert spawned["is_production"] is True and spawned["tags"] == ("nightly",)
    assert spawned["user"] == "alice" and spawned["task_id"] == f"{run.id}/where/0"
    # the same task again, as a remote backend runs it, by someone else, elsewhere
    record = root / ".lamina" / "runs" / run.id / "tasks" / "where" / "0.json"
    record.unlink()
    path.unlink()  # the task runs the run's code snapshot
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    task = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", run.record.datastore_url,
         "--run", run.id, "--step", "where", "--index", "0"],
        cwd=elsewhere, env=cli_env(LAMINA_USER="airflow"), capture_output=True, text=True,
        timeout=120,
    )
    assert task.returncode == 0, task.stderr
    output = json.loads(record.read_text())["output"]
    from lamina.records import ArtifactRef

    assert stack.artifacts.load(ArtifactRef.from_dict(output)) == spawned
    stack.close()


def test_an_orchestrated_run_records_the_branch_it_was_deployed_from(tmp_path, monkeypatch) -> None:
    from lamina.deploy import build_deployment_plan
    from lamina.namespaces import resolve_branch
    from lamina.runtime.stepwise import start_run

    flow = load(write(tmp_path, "where.py", CURRENT))
    alice = as_user(monkeypatch, "alice", tmp_path)
    alice.branch = resolve_branch(user="alice", project="churn", production=True)
    prod = build_deployment_plan(flow, alice)
    alice.branch = resolve_branch(user="alice", project="churn")
    mine = build_deployment_plan(flow, alice)
    assert prod.deployment_id != mine.deployment_id  # same code, one record per branch
    engine = as_user(monkeypatch, "airflow", tmp_path)  # whoever the engine runs as
    run_id = start_run(engine, flow="ns-current", deployment_id=prod.deployment_id)
    record = engine.metadata.get_run(run_id)
    assert (record.namespace, record.production, record.user) == (
        "project:churn/branch:prod", True, "airflow")
    other = engine.metadata.get_run(
        start_run(engine, flow="ns-current", deployment_id=mine.deployment_id))
    assert other.namespace == "project:churn/branch:alice" and not other.production


def test_bad_projects_and_branches_are_named_before_anything_runs(tmp_path, monkeypatch) -> None:
    from lamina import Flow

    with pytest.raises(ConfigError, match="project 'my project' is not a valid name"):
        Flow("f", project="my project")
    flow = load(write(tmp_path, "source.py", SOURCE))  # no project
    stack = as_user(monkeypatch, "alice", tmp_path)
    with pytest.raises(ConfigError, match="--production needs a project"):
        flow.run(stack=stack, production=True)
    assert stack.metadata.list_runs() == []  # nothing was recorded

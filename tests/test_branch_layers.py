"""Every layer names what a branch deploys or writes with the branch (and leaves names
unchanged without a project): the Airflow DAG id, a serving deployment and its prediction
log, the online tables and materialization history, monitoring targets and reports; a
deployment is stamped with who deployed it, when, on which branch."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from lamina.branch_records import (
    deployed_stamp,
    describe_stamp,
    dns_label,
)
from lamina.cli.main import main
from lamina.config.recorded import record_stack
from lamina.errors import ConfigError
from lamina.namespaces import Branch, branch_from_dict, branch_to_dict
from lamina.serving.deployment import for_branch
from lamina.serving.spec import Deployment, Variant
from lamina.stack import Stack

ALICE = Branch(user="alice", project="churn", name="alice")
PROD = Branch(user="bob", project="churn", name="prod", production=True)
NOBODY = Branch(user="alice")

FLOW = '''
from lamina import Flow

flow = Flow("movies")


@flow.step
def numbers() -> list[int]:
    return [1, 2, 3]


@flow.step
def total(numbers: list[int]) -> int:
    return sum(numbers)
'''


def _project(root: Path, *, project: str | None) -> Path:
    top = f'project = "{project}"\n' if project else ""
    (root / "dags").mkdir(exist_ok=True)
    (root / "lamina.toml").write_text(top + textwrap.dedent(f"""\
        [stacks.af]
        datastore = "file://.lamina"
        orchestrator = {{ plugin = "airflow", dags_folder = {str(root / "dags")!r} }}
        """))
    (root / "flow.py").write_text(FLOW)
    return root


def test_serving_names_are_dns_labels_of_the_branch() -> None:
    assert dns_label(ALICE, "movies") == "churn-alice-movies"
    assert dns_label(PROD, "movies") == "churn-prod-movies"
    assert dns_label(Branch("x", "Churn", "Alice_Smith.2"), "m") == "churn-alice-smith-2-m"
    assert dns_label(NOBODY, "movies") == "movies"
    with pytest.raises(ConfigError, match="longer than the 63 characters"):
        dns_label(ALICE, "m" * 60, "deployment name")


def test_a_serving_deployment_is_qualified_and_stamped_once() -> None:
    spec = Deployment(name="movies", variants=(Variant("a", "movies/latest/model"),))
    alice = for_branch(spec, ALICE)
    assert alice.name == "churn-alice-movies"
    assert alice.deployed["deployed_by"] == "alice" and alice.deployed["branch"] == "alice"
    assert alice.deployed["production"] is False and alice.deployed["deployed_at"]
    assert for_branch(alice, PROD) is alice  # handed on to a server: never qualified twice
    again = Deployment.from_dict(json.loads(json.dumps(alice.to_dict())))
    assert again == alice  # the spec file the local backend writes keeps the stamp
    assert for_branch(spec, NOBODY).name == "movies"  # no project: the name as written


def test_the_stamp_and_the_recorded_branch_round_trip() -> None:
    stamp = deployed_stamp(PROD)
    assert stamp["namespace"] == "project:churn/branch:prod" and stamp["production"] is True
    assert branch_from_dict(stamp) == PROD
    assert branch_from_dict(branch_to_dict(ALICE)) == ALICE
    assert branch_from_dict({}) is None and branch_from_dict(None) is None
    assert describe_stamp(stamp).startswith("production branch of project churn, deployed by bob")
    assert "branch alice of project churn" in describe_stamp(deployed_stamp(ALICE))


def test_a_recorded_stack_carries_its_branch_to_the_task(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    stack.branch = ALICE
    record = record_stack(stack)
    assert record["branch"]["namespace"] == "project:churn/branch:alice"
    assert Stack.from_manifest(record, env={}).branch == ALICE
    record.pop("branch")  # a run recorded before branches: the task's own default
    assert Stack.from_manifest(record, env={}).branch.project == ""


def test_online_tables_and_materializations_are_per_branch(project: Path) -> None:
    from lamina.features import LocalFeatureStore

    stack = Stack.load(cwd=project, env={})
    store = LocalFeatureStore(None, stack)
    view = SimpleNamespace(name="stats")
    version = SimpleNamespace(fingerprint="0123456789abcdef")
    stack.branch = NOBODY
    assert store._online_table(view, version) == "stats__0123456789ab"
    stack.branch = ALICE
    assert store._online_table(view, version) == "churn__alice__stats__0123456789ab"
    assert store._for_branch("stats", ".") == "churn.alice.stats"


def test_monitoring_targets_and_reports_are_the_branchs(project: Path) -> None:
    from lamina.monitoring.api import for_branch as monitored
    from lamina.monitoring.api import report_file_name

    stack = Stack.load(cwd=project, env={})
    stack.branch = ALICE
    assert monitored(stack, "movies") == "churn-alice-movies"
    assert monitored(stack, "churn-alice-movies") == "churn-alice-movies"  # given in full
    assert monitored(stack, "log:movies") == "log:churn-alice-movies"
    for kept in ("movies/latest/model", "ref.parquet", ""):
        assert monitored(stack, kept) == kept
    stack.branch = NOBODY
    assert monitored(stack, "movies") == "movies"

    def run(**fields: str) -> SimpleNamespace:
        return SimpleNamespace(id="r1", record=SimpleNamespace(user="alice", **fields))

    assert report_file_name(run(project="churn", branch="alice")) == "churn.alice.r1.html"
    assert report_file_name(run(project="", branch="")) == "r1.html"


def test_deploy_qualifies_the_dag_id_and_stamps_the_deployment(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(project, project="churn")
    monkeypatch.setenv("LAMINA_USER", "bob")
    assert main(["deploy", "flow.py", "--stack", "af", "--dry-run", "--branch", "alice"]) == 0
    text = capsys.readouterr().out
    assert "dag_id='lamina_churn.alice.movies'" in text and "'branch:alice'" in text
    assert "Belongs to the branch alice of project churn" in text

    assert main(["deploy", "flow.py", "--stack", "af", "--production"]) == 0
    out = capsys.readouterr().out
    assert (project / "dags" / "lamina_churn.prod.movies.py").is_file()
    assert "production branch of project churn, deployed by bob at " in out
    stack = Stack.load("af", cwd=project, env={})
    records = list(stack.datastore.list_records("deployments/movies"))
    assert len(records) == 1 and "/churn.prod." in records[0]  # one record per branch
    record = stack.artifacts.get_json(records[0])
    assert record["production"] is True and record["deployed_by"] == "bob"
    assert record["namespace"] == "project:churn/branch:prod"


def test_without_a_project_names_are_unchanged_and_branches_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(project, project=None)
    assert main(["deploy", "flow.py", "--stack", "af", "--dry-run"]) == 0
    assert "dag_id='lamina_movies'" in capsys.readouterr().out
    assert main(["deploy", "flow.py", "--stack", "af", "--production"]) == 1
    err = capsys.readouterr().err
    assert "--production needs a project" in err and "project =" in err
    assert not list((project / "dags").iterdir())

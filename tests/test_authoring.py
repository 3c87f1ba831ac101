"""Authoring: self-documenting parameters, `lamina show flow.py`, misspelled inputs,
retry delays with backoff, removing tags, and a project found from a subfolder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import pytest

from lamina import Flow, Param
from lamina.client import Client
from lamina.errors import FlowDefinitionError, ParameterError
from lamina.stack import Stack

FLOW = textwrap.dedent('''
    from typing import Annotated
    from lamina import Flow, Param

    flow = Flow("documented", description="a documented flow")

    @flow.step
    def countries() -> list[str]:
        return ["fi", "se"]

    @flow.step(foreach="countries", retries=2, timeout=30)
    def model(countries: str, alpha: Annotated[float, Param(help="L2 strength")] = 0.1,
              kind: str = Param("lr", help="model kind", choices=["lr", "rf"])) -> dict:
        return {"country": countries, "alpha": alpha, "kind": kind}

    @flow.step
    def best(model: list[dict], top: int = 1) -> dict:
        return sorted(model, key=lambda m: m["country"])[top - 1]
''')


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def documented(project: Path) -> Path:
    (project / "flow.py").write_text(FLOW)
    return project


def test_run_help_lists_the_flows_parameters(documented: Path) -> None:
    out = _cli(documented, "run", "flow.py", "--help")
    assert out.returncode == 0, out.stderr
    assert "--set NAME=VALUE" in out.stdout  # the command's own help first
    lines = {line.split()[1]: line for line in out.stdout.splitlines()
             if line.strip().startswith("--set ") and "=" in line.split()[1]}
    assert "float" in lines["alpha="] and "default 0.1" in lines["alpha="]
    assert "L2 strength" in lines["alpha="] and "(used by model)" in lines["alpha="]
    assert "one of 'lr', 'rf'" in lines["kind="] and "model kind" in lines["kind="]
    assert "int" in lines["top="] and "(used by best)" in lines["top="]
    assert not (documented / ".lamina").exists()  # nothing ran


def test_show_flow_file_prints_the_dag_without_running(documented: Path) -> None:
    out = _cli(documented, "show", "flow.py")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "flow documented: 3 steps - a documented flow" in text
    assert text.index("  countries") < text.index("  model") < text.index("  best")
    assert "foreach countries  [retries 2, timeout 30s]" in text
    assert "<- countries: one element per task" in text
    assert "<- model: the results, as a list" in text
    assert "parameters: alpha, kind" in text
    assert not (documented / ".lamina").exists()


def test_choices_and_annotated_types_are_checked_before_the_run(documented: Path) -> None:
    bad = _cli(documented, "run", "flow.py", "--set", "kind=svm")
    assert bad.returncode == 1
    assert "parameter 'kind' = 'svm' is not one of its choices: 'lr', 'rf'" in bad.stderr
    ok = _cli(documented, "run", "flow.py", "--set", "alpha=0.5", "--set", "kind=rf")
    assert ok.returncode == 0, ok.stderr
    run = Client(Stack.load(cwd=documented, env={})).latest_run("documented")
    assert run.params == {"alpha": 0.5, "kind": "rf", "top": 1}  # 0.5 parsed as the float
    assert run["best"].value == {"country": "fi", "alpha": 0.5, "kind": "rf"}


def test_a_param_declared_either_way_keeps_the_function_callable() -> None:
    flow = Flow("callable")

    @flow.step
    def numbers(count: Annotated[int, Param(help="how many")] = 3) -> list[int]:
        return list(range(count))

    assert numbers() == [0, 1, 2]  # a plain function with a plain default
    assert flow.run(count=2)["numbers"].value == [0, 1]


def test_a_misspelled_input_is_an_error_not_a_silent_parameter(project: Path) -> None:
    flow = Flow("typo")

    @flow.step
    def features() -> list[int]:
        return [1, 2]

    @flow.step
    def train(featres: list[int] | None = None) -> int:  # one letter from the step
        return len(featres or [])

    with pytest.raises(FlowDefinitionError, match="did you mean the result of step 'features'") as err:
        flow.run()
    assert "rename it 'features'" in str(err.value) and "Param(" in str(err.value)
    flow.steps.pop("train")

    @flow.step
    def train2(featres: Annotated[list[int] | None, Param(help="on purpose")] = None) -> int:
        return len(featres or [])

    assert flow.run()["train2"].value == 0  # declared with Param: a parameter on purpose


def test_short_names_are_not_taken_for_typos() -> None:
    flow = Flow("short")

    @flow.step
    def xs(n: int = 3) -> list[int]:
        return list(range(n))

    assert flow.run()["xs"].value == [0, 1, 2]


def test_a_retry_waits_its_delay_and_backs_off(project: Path) -> None:
    flow = Flow("flaky")
    marker = project / "attempts"

    @flow.step(retries=2, retry_delay=0.4, retry_backoff=2.0)
    def flaky() -> int:
        done = len(marker.read_text()) if marker.exists() else 0
        marker.write_text("x" * (done + 1))
        if done < 2:
            raise RuntimeError(f"attempt {done + 1} fails")
        return done

    run = flow.run()
    attempts = run["flaky"].task.attempts()
    assert [a.number for a in attempts] == [1, 2, 3] and run["flaky"].value == 2
    first_wait = attempts[1].started_at - attempts[0].finished_at
    second_wait = attempts[2].started_at - attempts[1].finished_at
    assert first_wait >= 0.4 and second_wait >= 0.8  # 0.4 s, then twice that
    with pytest.raises(FlowDefinitionError, match="retry_backoff must be >= 1"):
        flow.step(retry_backoff=0.5)(lambda: 1)


def test_tags_can_be_removed(project: Path) -> None:
    (project / "flow.py").write_text(FLOW)
    assert _cli(project, "run", "flow.py", "--tag", "candidate", "--tag", "keep").returncode == 0
    out = _cli(project, "tag", "documented/latest", "candidate", "--remove")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("tags keep")
    run = Client(Stack.load(cwd=project, env={})).latest_run("documented")
    assert run.tags == ("keep",)
    run.remove_tags("keep")
    assert run.tags == ()


def test_commands_in_a_subfolder_see_the_projects_runs(project: Path) -> None:
    (project / "flow.py").write_text(FLOW)
    assert _cli(project, "run", "flow.py").returncode == 0
    sub = project / "notebooks" / "deep"
    sub.mkdir(parents=True)
    out = _cli(sub, "runs")
    assert out.returncode == 0, out.stderr
    assert "documented" in out.stdout
    assert not (sub / ".lamina").exists()
    assert Stack.load(cwd=sub, env={}).project_root == project.resolve()


def test_a_required_choice_parameter_is_refused_when_missing() -> None:
    flow = Flow("required")

    @flow.step
    def pick(mode: str = Param(help="which mode", choices=("a", "b"))) -> str:
        return mode

    with pytest.raises(ParameterError, match="has no default and was not set"):
        flow.run()
    assert flow.run(mode="b")["pick"].value == "b"


def test_catch_turns_a_failure_into_a_value_the_join_can_count(project: Path) -> None:
    from lamina import Failed

    flow = Flow("catching")

    @flow.step
    def items() -> list[int]:
        return [1, 2, 3, 4]

    @flow.step(foreach="items", catch=True, retries=1)
    def square(items: int) -> int:
        if items % 2 == 0:
            raise ValueError(f"even {items}")
        return items * items

    @flow.step
    def summary(square: list) -> dict:
        return {"ok": [s for s in square if s],
                "failed": [f.message for f in square if isinstance(f, Failed)]}

    run = flow.run()
    assert run.status == "succeeded"
    assert run["summary"].value == {"ok": [1, 9], "failed": ["ValueError: even 2",
                                                             "ValueError: even 4"]}
    caught = run.caught_tasks()
    assert [(t.index, t.status, t.record.attempt) for t in caught] == [(1, "caught", 2),
                                                                        (3, "caught", 2)]
    value = caught[0].value
    assert isinstance(value, Failed) and not value
    assert (value.error_type, value.attempt) == ("ValueError", 2)
    assert "raise ValueError" in value.traceback
    assert Path(value.location.rsplit(":", 1)[0]).name == "test_authoring.py"
    assert run.failed_tasks() == []
    shown = _cli(project, "show", f"{run.id}/square")
    assert shown.returncode == 0 and shown.stdout.count(" caught ") == 2


def test_after_orders_steps_that_pass_no_result(project: Path) -> None:
    flow = Flow("ordered")
    table = project / "table.txt"

    @flow.step
    def write() -> None:
        table.write_text("rows")

    @flow.step(after="write")
    def read() -> str:
        return table.read_text()

    assert flow.run()["read"].value == "rows"
    assert flow.graph().upstream("read") == ["write"]
    bad = Flow("bad")
    bad.step(name="write")(lambda: 1)
    bad.step(after="wirte", name="x")(lambda: 2)
    with pytest.raises(FlowDefinitionError, match=r"after='wirte' names no step \(did you mean 'write'"):
        bad.run()


def test_typo_distance_counts_swaps_and_spares_different_words() -> None:
    from lamina.flow.graph import edit_distance

    assert edit_distance("fetaures", "features") == 1  # two letters swapped
    assert edit_distance("featres", "features") == 1
    flow = Flow("words")

    @flow.step
    def sales() -> list[float]:
        return [1.0, 2.0]

    @flow.step
    def total(sales: list[float], scale: float = 1.5) -> float:  # a word, not a typo
        return sum(sales) * scale

    assert flow.run()["total"].value == 4.5


def test_show_names_the_retry_delay_and_its_backoff() -> None:
    from lamina import Flow
    from lamina.cli.commands.describe import graph_text

    flow = Flow("waits")

    @flow.step(retries=3, retry_delay=0.5, retry_backoff=3.0)
    def fetch() -> int:
        return 1

    @flow.step(retries=1, retry_delay=2, retry_backoff=1.0)
    def steady(fetch: int) -> int:
        return fetch

    text = graph_text(flow)
    assert "retries 3, retry delay 0.5s x3 each retry" in text
    assert "retry delay 2s]" in text or "retry delay 2s," in text

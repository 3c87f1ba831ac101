"""Nested foreach: a foreach over each element of each result of a foreach step, a join
per level (grouped by the outer element), stable task addresses ``I.J``, resume, the
one-command-at-a-time protocol the compiled orchestrators and remote computes use, and
the authoring errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lamina
from lamina import Client, Flow, load_stack
from lamina.client.refs import split_ref
from lamina.errors import FlowDefinitionError, LaminaError, RunFailedError, RunNotFoundError
from lamina.flow.loader import load_flow_file

FLOWS = Path(__file__).parent / "flows"
GROUPED = [[4, 5, 7], [5], [], [10, 5]]  # len() of each genre's movies, by genre


def _flow(project: Path):
    shutil.copy(FLOWS / "nested_movies.py", project / "movies.py")
    return load_flow_file(project / "movies.py")


def test_a_join_per_level_gets_results_grouped_by_the_outer_element(project: Path) -> None:
    run = _flow(project).run(flag=str(project / "no.flag"), runs=str(project / "runs.txt"))
    assert run["by_genre"].value == GROUPED  # plain join: a list of lists, in order
    assert run["genre_best"].value == [("drama", 7), ("horror", 5), ("comedy", 0),
                                       ("western", 10)]  # a join per genre
    assert run["best"].value == "western"  # a join of the joins
    # a foreach over the nested step's results keeps its grouping
    assert run["bonus_by_genre"].value == [[v + 100 for v in g] for g in GROUPED]
    assert run["bonus"].grouped() == run["bonus_by_genre"].value
    score = run["score"]
    assert score.value == [4, 5, 7, 5, 10, 5]  # flat, outer-major
    assert score.grouped() == GROUPED
    assert score.group_sizes() == [3, 1, 0, 2]
    # flat indexes, and the nested address I.J of each task
    assert [t.index for t in score] == list(range(6))
    assert [t.record.element for t in score] == [
        "movies=0.0: 'Heat'", "movies=0.1: 'Rocky'", "movies=0.2: 'Network'",
        "movies=1.0: 'Alien'", "movies=3.0: 'Unforgiven'", "movies=3.1: 'Shane'"]
    assert score["3.1"].value == 5 and score["3.1"].index == 5
    client = Client()
    task = client.get(f"{run.id}/score/0.2")
    assert task.index == 2 and task.value == 7
    with pytest.raises(RunNotFoundError, match=r"has no task 2\.0") as err:
        score["2.0"]  # comedy has no movies
    assert "2: 0 tasks" in str(err.value)
    with pytest.raises(LaminaError, match="is not a nested foreach"):
        run["movies"]["0.1"]
    assert [r.record.inputs["score"] for r in run["genre_best"]][1] == [score[3].ref.key]


def test_task_addresses_parse() -> None:
    assert split_ref("r1/score/2.5") == ("r1", "score", "2.5")
    assert split_ref("r1/score/7") == ("r1", "score", 7)
    with pytest.raises(LaminaError, match=r"task index '2\.x' .* not a number"):
        split_ref("r1/score/2.x")


def test_resume_reruns_only_the_failed_nested_task(project: Path) -> None:
    flag = project / "broken.flag"
    flag.write_text("bug")
    runs = project / "runs.txt"
    with pytest.raises(RunFailedError) as err:
        _flow(project).run(flag=str(flag), runs=str(runs))
    failed = err.value.run
    assert [(t.step, t.index) for t in failed.failed_tasks()] == [("score", 2)]
    assert failed["score"][2].record.element == "movies=0.2: 'Network'"
    flag.unlink()
    runs.write_text("")
    resumed = lamina.resume(failed.id)
    assert resumed.status == "succeeded"
    assert runs.read_text() == "score Network\n", "only the failed nested task may run again"
    assert resumed["by_genre"].value == GROUPED and resumed["best"].value == "western"
    statuses = {(t.step, t.index): t.status for t in resumed.tasks()}
    assert statuses[("score", 2)] == "succeeded"
    assert all(statuses[("score", i)] == "reused" for i in (0, 1, 3, 4, 5))
    assert all(statuses[("genre_best", i)] == "succeeded" for i in range(4))  # never ran before


def test_the_stepwise_protocol_runs_a_nested_foreach(project: Path) -> None:
    """What Airflow, Argo and Step Functions run, one command per step and task, and
    what a remote compute's ``python -m lamina task`` rebuilds from the records."""
    from lamina.deploy import build_deployment_plan
    from lamina.runtime.remote import run_remote_task
    from lamina.runtime.stepwise import finish_run, prepare_step, start_run

    (project / "lamina.toml").write_text('[stacks.s]\ndatastore = "file://.lamina"\n')
    stack = load_stack("s")
    plan = build_deployment_plan(_flow(project), stack)
    run_id = start_run(stack, flow="nested_movies", deployment_id=plan.deployment_id,
                       params={"flag": str(project / "no.flag"), "runs": str(project / "r")})
    counts = {}
    for step in plan.graph.order:
        counts[step] = prepare_step(stack.artifacts, run_id, step)
        for index in range(counts[step]):
            run_remote_task(stack.datastore.url, run_id, step, index)
    assert counts["score"] == 6 and counts["genre_best"] == 4
    assert finish_run(stack, run_id).status == "succeeded"
    run = Client(stack).run(run_id)
    assert run["by_genre"].value == GROUPED and run["best"].value == "western"
    assert run["score"]["3.0"].record.element == "movies=3.0: 'Unforgiven'"


def test_logs_of_a_nested_task_by_its_address(project: Path) -> None:
    flow = textwrap.dedent('''
        from lamina import Flow

        flow = Flow("nested_logs")


        @flow.step
        def outer() -> list[int]:
            return [1, 2]


        @flow.step(foreach="outer")
        def inner(outer: int) -> list[int]:
            return list(range(outer))


        @flow.step(foreach="inner", nested=True)
        def leaf(inner: int) -> int:
            print(f"leaf says {inner}")
            return inner
        ''')
    (project / "f.py").write_text(flow)
    run = load_flow_file(project / "f.py").run()
    proc = subprocess.run([sys.executable, "-m", "lamina", "logs", f"{run.id}/leaf/1.1"],
                          cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "leaf says 1" in proc.stdout and "leaf says 0" not in proc.stdout
    shown = subprocess.run([sys.executable, "-m", "lamina", "show", f"{run.id}/leaf/1.0"],
                           cwd=project, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"{run.id}/leaf/1" in shown.stdout and "inner=1.0: 0" in shown.stdout


def _define(build) -> None:
    flow = Flow("bad")

    @flow.step
    def plain() -> list[int]:
        return [1]

    @flow.step(foreach="plain")
    def lists(plain: int) -> list[int]:
        return [plain]

    build(flow)
    flow.graph({})


def test_nested_errors_name_the_step_and_the_fix() -> None:
    def without_foreach(flow: Flow) -> None:
        @flow.step(nested=True)
        def a(plain: list[int]) -> int:
            return 1

    def over_a_plain_step(flow: Flow) -> None:
        @flow.step(foreach="plain", nested=True)
        def b(plain: int) -> int:
            return 1

    def three_levels(flow: Flow) -> None:
        @flow.step(foreach="lists", nested=True)
        def c(lists: int) -> list[int]:
            return [lists]

        @flow.step(foreach="c", nested=True)
        def d(c: int) -> int:
            return c

    def join_annotated_int(flow: Flow) -> None:
        @flow.step(foreach="lists", nested=True)
        def e(lists: int) -> int:
            return lists

        @flow.step
        def f(e: int) -> int:
            return e

    cases = [
        (without_foreach, "step 'a' .*nested=True needs foreach= naming exactly one", "foreach='movies'"),
        (over_a_plain_step, "step 'b' .*'plain', which is not a foreach step", "drop nested=True"),
        (three_levels, "step 'd' .*itself nested; a nested foreach goes two levels deep", "pairs"),
        (join_annotated_int, "step 'f' .*'e' as a list of lists, but is annotated int", "list"),
    ]
    for build, message, fix in cases:
        with pytest.raises(FlowDefinitionError, match=message) as err:
            _define(build)
        assert "test_nested_foreach.py:" in str(err.value) and fix in str(err.value)
        assert len(str(err.value).splitlines()) == 2  # one line, then the fix


def test_an_inner_result_that_is_not_a_list_fails_the_step_naming_it(project: Path) -> None:
    flow = Flow("bad_inner")

    @flow.step
    def outer() -> list[int]:
        return [1, 2]

    @flow.step(foreach="outer")
    def inner(outer: int):
        return [outer] if outer == 1 else "oops"

    @flow.step(foreach="inner", nested=True)
    def leaf(inner: int) -> int:
        return inner

    with pytest.raises(RunFailedError, match=r"foreach over 'inner\[1\]', whose result is a str"):
        flow.run()


def test_show_of_the_flow_file_says_how_each_join_receives_a_nested_step() -> None:
    from lamina.cli.commands.describe import graph_text

    text = graph_text(load_flow_file(FLOWS / "nested_movies.py"))
    assert "foreach movies (nested: each element of each result)" in text
    assert "<- score: the results of this task's outer element, as a list" in text
    assert "<- score: the results grouped by outer element, as a list of lists" in text

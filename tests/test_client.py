"""The notebook's view of past runs: real runs on the embedded default stack, read back
through :class:`lamina.Client`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from client_util import copy_flow, load, project_stack

from lamina import Client
from lamina.errors import LaminaError, RunFailedError, RunNotFoundError

# client_numbers.py with n=3 makes [7, 4, 1] (deliberately not sorted)
NUMBERS = [7, 4, 1]
SQUARES = [49, 16, 1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One project with three runs, oldest first: a successful client-numbers run
    (tagged), a failed client-numbers run, a client-array run."""
    root = tmp_path_factory.mktemp("client-project")
    stack = project_stack(root)
    numbers = load(copy_flow("client_numbers.py", root))
    array = load(copy_flow("client_array.py", root))
    ok = numbers.run(stack=stack, tags=["nightly"], n=3)
    failed = numbers.run(stack=stack, raise_on_failure=False, n=4, fail_at=8)
    other = array.run(stack=stack)
    yield SimpleNamespace(
        root=root, stack=stack, client=Client(stack), ok=ok, failed=failed, other=other
    )
    stack.close()


def ids(runs) -> list[str]:
    return [r.id for r in runs]


# -- finding runs ------------------------------------------------------------------------


def test_runs_are_newest_first(project) -> None:
    assert ids(project.client.runs()) == [project.other.id, project.failed.id, project.ok.id]


def test_runs_filtered_by_flow_status_and_tag(project) -> None:
    client = project.client
    assert ids(client.runs("client-numbers")) == [project.failed.id, project.ok.id]
    assert ids(client.runs(status="failed")) == [project.failed.id]
    assert ids(client.runs("client-numbers", status="succeeded")) == [project.ok.id]
    assert ids(client.runs(tag="nightly")) == [project.ok.id]
    assert client.runs("client-array", tag="nightly") == []
    assert ids(client.runs(limit=1)) == [project.other.id]


def test_flows_lists_flows_with_runs(project) -> None:
    assert sorted(project.client.flows()) == ["client-array", "client-numbers"]


def test_run_by_id_and_unique_prefix(project) -> None:
    run_id = project.ok.id
    assert project.client.run(run_id).id == run_id
    assert project.client.run(run_id[:-2]).id == run_id


def test_unknown_run_names_the_reference(project) -> None:
    with pytest.raises(RunNotFoundError, match="no-such-run"):
        project.client.run("no-such-run")


def test_flow_latest_is_the_latest_successful_run(project) -> None:
    # the failed run is newer, but FLOW/latest skips it
    assert project.client.run("client-numbers/latest").id == project.ok.id
    assert project.client.latest_run("client-numbers").id == project.ok.id
    assert project.client.latest_run("client-numbers", successful=False).id == project.failed.id
    assert project.client.run("latest").id == project.other.id


def test_latest_run_of_a_flow_without_runs_names_the_flows_that_exist(project) -> None:
    with pytest.raises(RunNotFoundError) as info:
        project.client.latest_run("churn")
    message = str(info.value)
    assert "churn" in message
    assert "client-numbers" in message and "client-array" in message


def test_run_record_holds_params_status_and_steps(project) -> None:
    run = project.client.run(project.ok.id)
    assert run.flow == "client-numbers"
    assert run.status == "succeeded" and run.successful
    assert run.params == {"n": 3, "fail_at": -1}
    assert run.steps == ["numbers", "square", "total"]
    assert run.tags == ("nightly",)
    assert run.duration is not None and run.duration >= 0
    failed = project.client.run(project.failed.id)
    assert failed.status == "failed" and not failed.successful
    assert [t.id for t in failed.failed_tasks()] == [f"{failed.id}/square/3"]


# -- results -----------------------------------------------------------------------------


def test_value_of_a_plain_step(project) -> None:
    run = project.client.run(project.ok.id)
    assert run["numbers"].value == NUMBERS
    assert run["total"].value == sum(SQUARES)
    assert not run["total"].foreach


def test_value_of_a_foreach_step_is_the_ordered_list(project) -> None:
    step = project.client.run(project.ok.id)["square"]
    assert step.foreach
    assert len(step) == 3
    assert step.value == SQUARES  # in element order, not completion or sorted order
    assert [t.index for t in step] == [0, 1, 2]
    assert step[1].value == SQUARES[1]


def test_numpy_result_comes_back_equal(project) -> None:
    import numpy as np

    grid = project.client.run(project.other.id)["grid"].value
    np.testing.assert_array_equal(grid, np.arange(12, dtype=np.float64).reshape(3, 4) / 8)


def test_get_reaches_runs_steps_and_tasks(project) -> None:
    from lamina.client import Run, StepResult, Task

    client = project.client
    assert isinstance(client.get(project.ok.id), Run)
    step = client.get("client-numbers/latest/square")
    assert isinstance(step, StepResult) and step.run.id == project.ok.id
    task = client.get(f"{project.ok.id}/square/2")
    assert isinstance(task, Task) and task.value == SQUARES[2]


def test_task_stdout_is_what_the_step_printed(project) -> None:
    run = project.client.run(project.ok.id)
    assert run["numbers"].task.stdout == "made 3 numbers\n"
    assert run["total"].task.stdout == f"total is {sum(SQUARES)}\n"
    assert run["square"][0].stdout == ""


def test_failed_task_keeps_error_traceback_and_stderr(project) -> None:
    task = project.client.run(project.failed.id)["square"][3]
    assert task.status == "failed"
    assert "ValueError: refusing to square 8" in task.error
    assert "client_numbers.py" in task.record.location
    assert "refusing to square 8" in task.traceback
    assert "refusing to square 8" in task.stderr
    with pytest.raises(LaminaError, match="square/3"):
        _ = task.value


def test_metrics_logged_with_current(project) -> None:
    run = project.client.run(project.ok.id)
    assert [t.metrics for t in run["square"]] == [{"square": float(v)} for v in SQUARES]
    assert run["total"].task.metrics == {"total": float(sum(SQUARES))}
    assert run["numbers"].task.metrics == {}


# -- lineage -----------------------------------------------------------------------------


def test_lineage_of_a_join_task(project) -> None:
    run = project.client.run(project.ok.id)
    total = run["total"].task
    lineage = total.lineage()
    square_tasks = [t.id for t in run["square"]]
    first = [e for e in lineage if e.depth == 1]
    assert [e.task_id for e in first] == square_tasks
    assert [e.key for e in first] == [t.ref.key for t in run["square"]]
    assert {e.param for e in first} == {"square"}
    assert not any(e.element for e in first)
    # at depth 2: what each foreach task was computed from, an element of `numbers`
    second = [e for e in lineage if e.depth == 2]
    numbers_task = run["numbers"].task.id
    assert second, lineage
    assert {e.param for e in second} == {"numbers"}
    assert {e.task_id for e in second} == {numbers_task}
    assert all(e.element for e in second) and len(second) == len(NUMBERS)
    assert max(e.depth for e in lineage) == 2


def test_lineage_never_points_a_task_at_itself(project) -> None:
    # element 1 of `numbers` has the same bytes as square(1) = 1: content addressing must
    # not make square/2 look like its own upstream
    run = project.client.run(project.ok.id)
    for task in run["square"]:
        assert all(e.task_id != task.id for e in task.lineage()), task.lineage()


def test_lineage_of_a_first_step_is_empty(project) -> None:
    assert project.client.run(project.ok.id)["numbers"].task.lineage() == []


# -- presentation and errors -------------------------------------------------------------


def test_reprs_name_flow_id_and_status(project) -> None:
    client = project.client
    run = client.run(project.ok.id)
    text = repr(run)
    assert "client-numbers" in text and run.id in text and "succeeded" in text
    assert "n=3" in text
    step = repr(run["square"])
    assert f"{run.id}/square" in step and "3 tasks" in step and "succeeded" in step
    task = repr(run["square"][1])
    assert f"{run.id}/square/1" in task and "succeeded" in task and "numbers=4" in task
    failed = repr(client.run(project.failed.id)["square"][3])
    assert "failed" in failed and "refusing to square 8" in failed
    assert "default" in repr(client)


def test_unknown_step_lists_the_steps(project) -> None:
    run = project.client.run(project.ok.id)
    with pytest.raises(RunNotFoundError) as info:
        run["sqaure"]
    message = str(info.value)
    assert "sqaure" in message and run.id in message
    assert "numbers, square, total" in message


def test_unknown_task_index_says_which_exist(project) -> None:
    run = project.client.run(project.ok.id)
    with pytest.raises(RunNotFoundError, match=r"no task 7[\s\S]*0\.\.2"):
        run["square"][7]
    with pytest.raises(LaminaError, match="not a number"):
        project.client.get(f"{run.id}/square/first")


def test_a_flow_name_alone_points_to_flow_latest(project) -> None:
    with pytest.raises(RunNotFoundError, match="client-numbers/latest"):
        project.client.run("client-numbers")


def test_one_resolver_names_runs_for_the_client_and_resume(project) -> None:
    from lamina.client import resolve_run

    metadata = project.stack.metadata
    assert resolve_run(metadata, "latest").run_id == project.other.id
    assert resolve_run(metadata, "latest").id == project.other.id  # as Run.id names it
    assert resolve_run(metadata, "client-numbers/latest").run_id == project.ok.id
    assert resolve_run(metadata, f" {project.failed.id[:-2]} ").run_id == project.failed.id
    with pytest.raises(RunNotFoundError, match="'client-array' is a flow, not a run"):
        resolve_run(metadata, "client-array")


def test_flow_latest_without_a_successful_run_names_its_newest_run(tmp_path) -> None:
    from lamina.client import resolve_run

    stack = project_stack(tmp_path)
    try:
        with pytest.raises(RunNotFoundError, match="there are no runs yet"):
            resolve_run(stack.metadata, "latest")
        numbers = load(copy_flow("client_numbers.py", tmp_path))
        failed = numbers.run(stack=stack, raise_on_failure=False, n=4, fail_at=8)
        with pytest.raises(RunNotFoundError) as info:
            resolve_run(stack.metadata, "client-numbers/latest")
        assert "flow 'client-numbers' has no successful run" in str(info.value)
        assert f"its newest run, {failed.id}, failed" in str(info.value)
        assert resolve_run(stack.metadata, "latest").run_id == failed.id
    finally:
        stack.close()


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("latest", ("latest", None, None)),
        ("latest/square/2", ("latest", "square", 2)),
        ("churn/latest", ("churn/latest", None, None)),
        ("churn/latest/train", ("churn/latest", "train", None)),
        ("churn/latest/train/0", ("churn/latest", "train", 0)),
        ("20261127T05/train/1", ("20261127T05", "train", 1)),
    ],
)
def test_split_ref(ref, parts) -> None:
    from lamina.client import split_ref

    assert split_ref(ref) == parts


@pytest.mark.parametrize(
    ("ref", "message"),
    [("", "is not a run reference"), ("a//b", "is not a run reference"),
     ("r/s/1/2", "too many parts"), ("churn/latest/s/x", "task index 'x'")],
)
def test_split_ref_refuses_malformed_references(ref, message) -> None:
    from lamina.client import split_ref

    with pytest.raises(LaminaError, match=message) as info:
        split_ref(ref)
    assert info.value.hint


def test_task_of_a_foreach_step_asks_for_an_index(project) -> None:
    with pytest.raises(LaminaError, match="3 tasks"):
        _ = project.client.run(project.ok.id)["square"].task


# -- tags --------------------------------------------------------------------------------


def test_add_tags_on_a_finished_run_is_persisted(project) -> None:
    run = project.client.run(project.ok.id)
    assert run.finished_at is not None
    run.add_tags("reviewed", "nightly")
    assert run.tags == ("nightly", "reviewed")
    # a fresh client on a fresh stack reads the tag back from the metadata store
    again = Client(project_stack(project.root))
    assert again.run(run.id).tags == ("nightly", "reviewed")
    assert ids(again.runs(tag="reviewed")) == [run.id]
    again.stack.close()


# -- flow.run from a notebook, and the cache ---------------------------------------------


def test_flow_run_returns_the_recorded_run(tmp_path: Path) -> None:
    stack = project_stack(tmp_path)
    flow = load(copy_flow("client_numbers.py", tmp_path))
    run = flow.run(stack=stack, n=2)
    assert run["total"].value == 49 + 16
    assert Client(stack).run("client-numbers/latest").id == run.id
    stack.close()


def test_failed_run_raises_with_the_run_attached(tmp_path: Path) -> None:
    stack = project_stack(tmp_path)
    flow = load(copy_flow("client_numbers.py", tmp_path))
    with pytest.raises(RunFailedError) as info:
        flow.run(stack=stack, fail_at=7)
    run = info.value.run
    assert run.status == "failed"
    assert run["square"][0].status == "failed"
    assert [t.status for t in run["square"]][1:] == ["succeeded", "succeeded"]
    stack.close()


def test_cache_reuses_identical_tasks(tmp_path: Path) -> None:
    stack = project_stack(tmp_path)
    flow = load(copy_flow("client_numbers.py", tmp_path))
    first = flow.run(stack=stack, cache=True)
    second = flow.run(stack=stack, cache=True)
    statuses = {t.status for t in second.tasks()}
    assert statuses == {"reused"}
    assert [t.record.reused_from for t in second["square"]] == [t.id for t in first["square"]]
    assert second["total"].value == first["total"].value
    stack.close()

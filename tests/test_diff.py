"""``Client.diff`` / ``lamina diff``: what changed between two real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from client_util import copy_flow, load, project_stack

from lamina import Client


@pytest.fixture
def project(tmp_path: Path):
    stack = project_stack(tmp_path)
    path = copy_flow("client_numbers.py", tmp_path)
    yield tmp_path, stack, path
    stack.close()


def by_what(changes) -> dict:
    return {c.what: (c.a, c.b) for c in changes}


def test_params_artifacts_and_metrics_of_two_parameter_settings(project) -> None:
    _, stack, path = project
    flow = load(path)
    a = flow.run(stack=stack, n=3)
    b = flow.run(stack=stack, n=4)
    diff = Client(stack).diff(a.id, b.id)
    assert (diff.a, diff.b) == (a.id, b.id)
    assert by_what(diff.params) == {"n": (3, 4)}
    assert diff.status is None
    assert diff.code_files == [] and diff.step_code == []
    artifacts = by_what(diff.artifacts)
    # n=4 adds an element (8): numbers' list, a fourth square and the total change;
    # the first three squares are the same bytes, so they are not listed
    assert set(artifacts) == {"numbers[0]", "square[3]", "total[0]"}
    assert artifacts["square[3]"] == (None, b["square"][3].ref.key)
    assert artifacts["total[0]"] == (a["total"].task.ref.key, b["total"].task.ref.key)
    metrics = by_what(diff.metrics)
    assert metrics == {"square[3].square": (None, 64.0), "total.total": (66.0, 130.0)}
    assert not diff.identical
    text = diff.render()
    assert f"diff {a.id} -> {b.id}" in text
    assert "n: 3 -> 4" in text
    assert "square[3]: - -> " + b["square"][3].ref.key[:12] in text
    assert "total.total: 66 -> 130" in text


def test_identical_runs_of_a_deterministic_flow_change_no_artifact(project) -> None:
    _, stack, path = project
    flow = load(path)
    a = flow.run(stack=stack)
    b = flow.run(stack=stack)
    diff = a.diff(b)
    assert diff.params == [] and diff.code_files == [] and diff.artifacts == []
    assert diff.metrics == [] and diff.status is None
    assert diff.identical
    # content addressing: both runs point at the very same objects
    assert [t.ref.key for t in a.tasks()] == [t.ref.key for t in b.tasks()]
    assert "no difference in params, code, artifacts or metrics" in diff.render()
    # timings are reported, but they are not a difference that matters
    assert {c.what for c in diff.timings} == {"numbers", "square", "total"}


def test_an_edited_flow_file_shows_the_changed_line(project) -> None:
    _, stack, path = project
    a = load(path).run(stack=stack)
    text = path.read_text()
    edited = text.replace("result = sum(square)", "result = sum(square) * 2")
    assert edited != text
    path.write_text(edited)
    b = load(path).run(stack=stack)
    diff = Client(stack).diff(a.id, b.id)
    assert [c.what for c in diff.code_files] == ["client_numbers.py"]
    patch = diff.code_diffs["client_numbers.py"]
    assert "-    result = sum(square)\n" in patch
    assert "+    result = sum(square) * 2\n" in patch
    # only the edited step's code hash changed
    assert [c.what for c in diff.step_code] == ["total"]
    assert set(by_what(diff.artifacts)) == {"total[0]"}
    assert by_what(diff.metrics) == {"total.total": (66.0, 132.0)}
    rendered = diff.render()
    assert "client_numbers.py: changed" in rendered
    assert "+    result = sum(square) * 2" in rendered


def test_failed_and_successful_runs_differ_in_status(project) -> None:
    _, stack, path = project
    flow = load(path)
    ok = flow.run(stack=stack)
    failed = flow.run(stack=stack, raise_on_failure=False, fail_at=4)
    diff = ok.diff(failed.id)
    assert (diff.status.a, diff.status.b) == ("succeeded", "failed")
    artifacts = by_what(diff.artifacts)
    assert artifacts["square[1]"] == (ok["square"][1].ref.key, None)
    assert "total[0]" in artifacts  # never ran in the failed run
    assert "status: succeeded -> failed" in diff.render()


def test_to_dict_is_json(project) -> None:
    import json

    _, stack, path = project
    flow = load(path)
    a = flow.run(stack=stack, n=2)
    b = flow.run(stack=stack, n=3)
    data = json.loads(json.dumps(a.diff(b).to_dict()))
    assert data["params"] == [{"what": "n", "a": 2, "b": 3}]
    assert data["a"] == a.id and data["b"] == b.id

"""Reuse only what is whole (defect 7 of the hardening trials): a cache hit or a resume
whose stored result was truncated, emptied or removed computes it again, says so (a
warning, a note on the task) and stores it whole."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from client_util import copy_flow, load, project_stack

from lamina import resume
from lamina.errors import RunFailedError


def _object(root: Path, key: str) -> Path:
    return root / ".lamina" / "objects" / key[:2] / key


def _damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    else:  # truncated by one byte
        path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.parametrize("how", ["empty", "truncated", "missing"])
def test_a_damaged_cached_result_is_computed_again(tmp_path: Path, how: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "project"
    stack = project_stack(root)
    flow = load(copy_flow("client_numbers.py", root))
    first = flow.run(stack=stack, n=3, cache=True)
    ref = first["square"][1].ref
    _damage(_object(root, ref.key), how)
    with caplog.at_level(logging.WARNING, logger="lamina"):
        second = flow.run(stack=stack, n=3, cache=True)
    assert second.status == "succeeded"
    task = second["square"][1]
    assert task.status == "succeeded"  # computed, not reused
    assert second["square"][0].status == "reused"  # whole results are still reused
    assert task.notes and f"the result of {first.id}/square/1" in task.notes[0]
    assert "damaged result not reused" in caplog.text
    assert second.notes() == {task.id: task.notes}
    assert _object(root, ref.key).stat().st_size == ref.size  # stored whole again
    assert task.value == first["square"][1].value and second["total"].value == first[
        "total"].value
    stack.close()


def test_resume_does_not_reuse_an_emptied_result(tmp_path: Path) -> None:
    root = tmp_path / "project"
    stack = project_stack(root)
    flow = load(copy_flow("runtime_flaky.py", root))
    flag, runs = root / "broken.flag", root / "runs.txt"
    flag.write_text("bug")
    with pytest.raises(RunFailedError) as err:
        flow.run(stack=stack, flag=str(flag), runs=str(runs))
    failed = err.value.run
    ref = failed["square"][2].ref  # 9: stored by no other task (1 is also an element)
    _object(root, ref.key).write_bytes(b"")
    flag.unlink()
    runs.write_text("")
    resumed = resume(failed.id, stack=stack)
    assert resumed.status == "succeeded"
    assert sorted(runs.read_text().split("\n")) == ["", "square 2", "square 3"]
    assert resumed["square"][2].status == "succeeded" and resumed["square"][2].notes
    assert resumed["square"][0].status == "reused"
    assert resumed["total"].value == 1 + 4 + 9
    stack.close()

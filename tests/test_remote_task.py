"""``python -m lamina task --datastore URL --run RUN --step STEP --index I`` (the fallback
form; remote backends pass --datastore-spec, see test_task_stack.py): the one entry
point remote compute launches. It must rebuild the task from the datastore alone and run
the run's code snapshot, whatever is on the disk of the machine it runs on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from client_util import cli_env, copy_flow, load, project_stack

BROKEN_ON_DISK = 'raise RuntimeError("the file on disk was imported, not the run\'s snapshot")\n'


@pytest.fixture
def project(tmp_path: Path) -> SimpleNamespace:
    """A finished client-numbers run (n=3) whose flow file was then broken on disk."""
    root = tmp_path / "project"
    stack = project_stack(root)
    path = copy_flow("client_numbers.py", root)
    run = load(path).run(stack=stack, n=3)
    path.write_text(BROKEN_ON_DISK)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    scratch = tmp_path / "scratch"  # where the task materializes the code snapshot
    scratch.mkdir()
    yield SimpleNamespace(
        root=root, run=run, url=run.record.datastore_url, elsewhere=elsewhere, scratch=scratch
    )
    stack.close()


def record_path(project: SimpleNamespace, step: str, index: int) -> Path:
    return project.root / ".lamina" / "runs" / project.run.id / "tasks" / step / f"{index}.json"


def task(project: SimpleNamespace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", project.url, *args],
        cwd=project.elsewhere,
        env=cli_env(TMPDIR=str(project.scratch)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_run_records_an_absolute_datastore_url(project) -> None:
    # a task launched anywhere must find the datastore from the URL alone
    path = Path(project.url.removeprefix("file://"))
    assert path.is_absolute() and path == project.root / ".lamina"


def test_a_file_url_names_the_same_datastore(project) -> None:
    record = record_path(project, "square", 0)
    before = json.loads(record.read_text())
    record.unlink()
    project.url = (project.root / ".lamina").as_uri()
    proc = task(project, "--run", project.run.id, "--step", "square", "--index", "0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(record.read_text())["output"] == before["output"]


@pytest.mark.parametrize(("step", "index"), [("square", 1), ("total", 0), ("numbers", 0)])
def test_rerun_a_task_from_the_snapshot_gives_the_same_output(project, step, index) -> None:
    record = record_path(project, step, index)
    before = json.loads(record.read_text())
    assert before["status"] == "succeeded"
    record.unlink()

    proc = task(project, "--run", project.run.id, "--step", step, "--index", str(index))
    assert proc.returncode == 0, proc.stderr
    task_id = f"{project.run.id}/{step}/{index}"
    assert f"task {task_id} succeeded: {before['output']['key']}" in proc.stdout

    after = json.loads(record.read_text())
    assert after["status"] == "succeeded"
    assert after["output"] == before["output"]  # same bytes, same content hash
    assert after["cache_key"] == before["cache_key"]
    assert after["metrics"] == before["metrics"]
    assert after["pid"] != before["pid"] and after["started_at"] >= before["finished_at"]
    # the task ran the run's snapshot, materialized away from the project
    assert list(project.scratch.glob("lamina-code/*/client_numbers.py"))
    assert (project.root / "client_numbers.py").read_text() == BROKEN_ON_DISK


def test_rerun_task_captures_its_output(project) -> None:
    record = record_path(project, "numbers", 0)
    record.unlink()
    proc = task(project, "--run", project.run.id, "--step", "numbers")
    assert proc.returncode == 0, proc.stderr
    after = json.loads(record.read_text())
    stdout = project.root / ".lamina" / "objects" / after["stdout_key"][:2] / after["stdout_key"]
    assert stdout.read_text() == "made 3 numbers\n"


def test_task_whose_upstream_result_is_missing_says_so(project) -> None:
    record_path(project, "square", 2).unlink()
    record_path(project, "total", 0).unlink()  # a finished task is never rerun
    proc = task(project, "--run", project.run.id, "--step", "total")
    assert proc.returncode == 1
    assert f"task {project.run.id}/square/2 has no successful result" in proc.stderr
    assert "fix:" in proc.stderr


def test_unknown_run(project) -> None:
    proc = task(project, "--run", "no-such-run", "--step", "square")
    assert proc.returncode == 1
    assert "run no-such-run has no manifest" in proc.stderr
    assert project.url in proc.stderr
    assert "--datastore" in proc.stderr  # the fix: check the URL and the run id


def test_unknown_step(project) -> None:
    proc = task(project, "--run", project.run.id, "--step", "sqaure")
    assert proc.returncode == 1
    assert "'sqaure'" in proc.stderr and "client-numbers" in proc.stderr


def test_unknown_step_lists_the_steps(project) -> None:
    proc = task(project, "--run", project.run.id, "--step", "sqaure")
    assert "numbers, square, total" in proc.stderr


def test_index_out_of_range(project) -> None:
    proc = task(project, "--run", project.run.id, "--step", "square", "--index", "5")
    assert proc.returncode == 1
    assert "'square'" in proc.stderr and "no task 5" in proc.stderr
    assert "0..2" in proc.stderr


def test_a_failing_remote_task_names_the_users_file_not_the_snapshot_copy(tmp_path) -> None:
    from lamina.errors import RunFailedError

    root = tmp_path / "project"
    stack = project_stack(root)
    path = copy_flow("client_numbers.py", root)
    with pytest.raises(RunFailedError) as failed:
        load(path).run(stack=stack, n=3, fail_at=4)  # numbers are 7, 4, 1: square/1 raises
    run_id = failed.value.run.id
    stack.close()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", str(root / ".lamina"),
         "--run", run_id, "--step", "square", "--index", "1"],
        cwd=tmp_path, env=cli_env(TMPDIR=str(scratch)), capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert list(scratch.glob("lamina-code/*/client_numbers.py"))  # it ran the copy ...
    record = json.loads((root / ".lamina" / "runs" / run_id / "tasks" / "square" / "1.json")
                        .read_text())
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "refusing to square" in text)
    assert record["location"] == f"{path}:{line}"  # ... and says where the user's file is
    assert f'File "{path}", line {line}' in record["traceback"]
    assert "lamina-code" not in record["traceback"]


def test_a_task_without_a_datastore_says_which_options_give_it(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--run", "r", "--step", "s"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "--datastore-spec" in proc.stderr and "--datastore URL" in proc.stderr


def test_a_malformed_datastore_spec_is_named(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore-spec", "{not json", "--run", "r",
         "--step", "s"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "--datastore-spec is not JSON" in proc.stderr


def test_a_run_recorded_without_its_stack_runs_on_the_urls_stack(project) -> None:
    manifest_path = project.root / ".lamina" / "runs" / project.run.id / "run.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["stack"]["components"]["datastore"]["component"] == "file"
    del manifest["stack"]  # as a run launched by an older lamina
    manifest_path.write_text(json.dumps(manifest))
    record = record_path(project, "square", 1)
    record.unlink()
    proc = task(project, "--run", project.run.id, "--step", "square", "--index", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(record.read_text())["status"] == "succeeded"

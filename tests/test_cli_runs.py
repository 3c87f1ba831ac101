"""The inspection CLI (``lamina runs | show | logs | diff | get | tag``) and ``lamina run`` /
``lamina resume``, called as a user would: ``python -m lamina`` in the project folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from blake3 import blake3
from client_util import cli_env, copy_flow, lamina, lamina_ok, run_ids

# client_numbers.py: n=3 makes [7, 4, 1], squares [49, 16, 1], total 66; n=4 adds 8 -> 130


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A project with three runs made by the CLI, oldest first: client-numbers n=3
    (tagged), client-numbers n=4, client-array."""
    root = tmp_path_factory.mktemp("cli-project")
    for name in ("client_numbers.py", "client_array.py", "client_required.py"):
        copy_flow(name, root)
    first = lamina(root, "run", "client_numbers.py", "--set", "n=3", "--tag", "first")
    assert first.returncode == 0, first.stderr
    lamina_ok(root, "run", "client_numbers.py", "--set", "n=4")
    lamina_ok(root, "run", "client_array.py")
    array, n4, n3 = run_ids(root)
    return SimpleNamespace(root=root, first_output=first.stdout, n3=n3, n4=n4, array=array)


# -- lamina run ----------------------------------------------------------------------------


def test_run_prints_the_run_and_its_steps(project) -> None:
    out = project.first_output
    assert f"run {project.n3}" in out
    assert "flow client-numbers" in out and "succeeded" in out
    assert "params n=3, fail_at=-1" in out
    assert "tags first" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["numbers"].split()[1:3] == ["1", "succeeded"]
    assert lines["square"].split()[1:3] == ["3", "succeeded:3"]
    assert "3 results" in lines["square"]
    assert lines["total"].split()[1:3] == ["1", "succeeded"]
    assert "int" in lines["total"]


# -- lamina runs -------------------------------------------------------------------------


def test_runs_lists_newest_first(project) -> None:
    out = lamina_ok(project.root, "runs")
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["run", "flow", "status", "started"]
    assert [row.split()[0] for row in rows] == [project.array, project.n4, project.n3]
    assert rows[0].split()[1:3] == ["client-array", "succeeded"]
    assert "n=4" in rows[1] and "n=3" in rows[2] and rows[2].rstrip().endswith("first")


def test_runs_filters_by_flow_status_and_tag(project) -> None:
    root = project.root
    assert run_ids(root, "client-numbers") == [project.n4, project.n3]
    assert run_ids(root, "--tag", "first") == [project.n3]
    assert run_ids(root, "--status", "succeeded", "--limit", "2") == [project.array, project.n4]
    out = lamina_ok(root, "runs", "--status", "failed")
    assert "no runs match" in out and "--status failed" in out


def test_runs_json_carries_the_records(project) -> None:
    records = json.loads(lamina_ok(project.root, "runs", "client-array", "--json"))
    assert len(records) == 1
    record = records[0]
    assert record["id"] == project.array and record["flow"] == "client-array"
    assert record["run_id"] == record["id"]  # the stored record's own field, unchanged
    assert record["params"] == {"rows": 3, "cols": 4}
    assert record["steps"] == ["grid"]
    assert record["flow_file"] == "client_array.py"


def test_runs_in_an_empty_project_says_how_to_start(tmp_path: Path) -> None:
    out = lamina_ok(tmp_path, "runs")
    assert "no runs yet" in out and "lamina run" in out


# -- lamina show -------------------------------------------------------------------------


def test_show_flow_latest_is_the_latest_successful_run(project) -> None:
    out = lamina_ok(project.root, "show", "client-numbers/latest")
    assert out.splitlines()[0].split()[:5] == [
        "run",
        project.n4,
        "flow",
        "client-numbers",
        "succeeded",
    ]
    assert "params n=4" in out
    assert "(1 files, client_numbers.py)" in out


def test_show_a_step_lists_its_tasks_with_elements_and_metrics(project) -> None:
    out = lamina_ok(project.root, "show", f"{project.n3}/square")
    blocks = out.split("task ")[1:]
    assert [b.split()[0] for b in blocks] == [f"{project.n3}/square/{i}" for i in range(3)]
    assert "element numbers=4" in blocks[1]
    assert "metrics square=16" in blocks[1]
    assert "succeeded" in blocks[1]


def test_show_a_task_by_prefix(project) -> None:
    out = lamina_ok(project.root, "show", f"{project.n3[:-1]}/total/0")
    assert f"task {project.n3}/total/0" in out
    assert "input square: 3 artifacts" in out
    assert "metrics total=66" in out


def test_show_json_of_a_run_and_of_a_task(project) -> None:
    run = json.loads(lamina_ok(project.root, "show", project.n3, "--json"))
    assert run["id"] == project.n3 and run["tags"] == ["first"]
    assert next(iter(run)) == "id"
    tasks = json.loads(lamina_ok(project.root, "show", f"{project.n3}/square/1", "--json"))
    assert [t["id"] for t in tasks] == [f"{project.n3}/square/1"]  # as Task.id
    assert "task_id" not in tasks[0]
    assert tasks[0]["status"] == "succeeded"
    assert tasks[0]["metrics"] == {"square": 16.0}


# -- lamina logs -------------------------------------------------------------------------


def test_logs_of_a_run_show_what_each_task_printed(project) -> None:
    out = lamina_ok(project.root, "logs", project.n3)
    assert out == (
        f"==> {project.n3}/numbers/0 <==\nmade 3 numbers\n"
        f"==> {project.n3}/total/0 <==\ntotal is 66\n"
    )


def test_logs_of_a_task_and_stream_selection(project) -> None:
    assert lamina_ok(project.root, "logs", f"{project.n4}/total") == "total is 130\n"
    assert lamina_ok(project.root, "logs", project.n4, "--stderr") == ""
    assert (
        lamina_ok(project.root, "logs", f"{project.n4}/numbers/0", "--stdout") == "made 4 numbers\n"
    )


# -- lamina diff -------------------------------------------------------------------------


def test_diff_names_params_artifacts_and_metrics(project) -> None:
    out = lamina_ok(project.root, "diff", project.n3, project.n4)
    assert out.startswith(f"diff {project.n3} -> {project.n4}")
    assert "n: 3 -> 4" in out
    assert "artifacts changed (by content hash):" in out
    assert "square[3]: - -> " in out and "square[0]" not in out
    assert "total.total: 66 -> 130" in out
    data = json.loads(lamina_ok(project.root, "diff", project.n3, project.n4, "--json"))
    assert data["params"] == [{"what": "n", "a": 3, "b": 4}]


# -- lamina get --------------------------------------------------------------------------


def test_get_writes_the_exact_stored_bytes(project) -> None:
    import numpy as np

    root = project.root
    out = lamina_ok(root, "get", f"{project.array}/grid", "-o", "grid.npy")
    record = json.loads(lamina_ok(root, "show", f"{project.array}/grid/0", "--json"))[0]
    key = record["output"]["key"]
    assert f"wrote grid.npy: numpy.npy, {record['output']['size']:,} bytes (blake3 {key})" in out
    data = (root / "grid.npy").read_bytes()
    assert blake3(data).hexdigest() == key
    np.testing.assert_array_equal(
        np.load(root / "grid.npy"), np.arange(12, dtype=np.float64).reshape(3, 4) / 8
    )
    # '-' streams the same bytes to standard output
    proc = lamina_bytes(root, "get", "client-array/latest/grid/0", "-o", "-")
    assert proc == data
    # an existing file is never replaced silently
    (root / "grid.npy").write_bytes(b"mine")
    proc = lamina(root, "get", f"{project.array}/grid", "-o", "grid.npy")
    assert proc.returncode == 1
    assert "'grid.npy' exists; nothing was written" in proc.stderr and "--force" in proc.stderr
    assert (root / "grid.npy").read_bytes() == b"mine"
    lamina_ok(root, "get", f"{project.array}/grid", "-o", "grid.npy", "--force")
    assert (root / "grid.npy").read_bytes() == data


def lamina_bytes(cwd: Path, *args: str) -> bytes:
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_get_a_run_or_a_foreach_step_asks_for_a_task(project) -> None:
    proc = lamina(project.root, "get", project.n3, "-o", "x.bin")
    assert proc.returncode == 1
    assert "is a run" in proc.stderr and "RUN/STEP" in proc.stderr
    proc = lamina(project.root, "get", f"{project.n3}/square", "-o", "x.bin")
    assert proc.returncode == 1
    assert "3 tasks" in proc.stderr
    assert f"lamina get {project.n3}/square/0" in proc.stderr
    assert not (project.root / "x.bin").exists()


# -- lamina tag --------------------------------------------------------------------------


def test_tag_adds_tags_that_persist(tmp_path: Path) -> None:
    copy_flow("client_array.py", tmp_path)
    lamina_ok(tmp_path, "run", "client_array.py", "--set", "rows=1")
    (run_id,) = run_ids(tmp_path)
    out = lamina_ok(tmp_path, "tag", run_id[:-1], "best", "reviewed")
    assert out.strip() == f"{run_id}: tags best, reviewed"
    assert run_ids(tmp_path, "--tag", "reviewed") == [run_id]
    record = json.loads(lamina_ok(tmp_path, "show", run_id, "--json"))
    assert record["tags"] == ["best", "reviewed"]


# -- lamina resume -----------------------------------------------------------------------


def test_resume_reruns_what_failed_and_reuses_the_rest(tmp_path: Path) -> None:
    copy_flow("client_numbers.py", tmp_path)
    failed = lamina(tmp_path, "run", "client_numbers.py", "--set", "fail_at=4")
    assert failed.returncode == 1
    (failed_id,) = run_ids(tmp_path)
    assert f"{failed_id}/square/1 failed" in failed.stdout
    assert "ValueError: refusing to square 4" in failed.stdout
    assert f"lamina resume {failed_id}" in failed.stdout
    # the error is printed once: in the run's report, not again as "lamina: error:"
    assert failed.stdout.count("ValueError: refusing to square 4\n") == 2  # line, traceback
    assert "lamina: error:" not in failed.stderr
    assert "client_numbers.py" in failed.stderr  # the live log line says where, as it fails

    out = lamina_ok(tmp_path, "resume", failed_id, "--set", "fail_at=-1")
    new_id = run_ids(tmp_path)[0]
    assert new_id != failed_id
    assert f"resumed from {failed_id}" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["numbers"].split()[2] == "reused"  # unchanged: taken from the failed run
    assert lines["total"].split()[2] == "succeeded"
    record = json.loads(lamina_ok(tmp_path, "show", new_id, "--json"))
    assert record["resumed_from"] == failed_id
    assert record["status"] == "succeeded"
    assert record["params"]["fail_at"] == -1


def test_every_command_that_takes_a_run_accepts_latest_and_flow_latest(tmp_path: Path) -> None:
    copy_flow("client_numbers.py", tmp_path)
    copy_flow("client_array.py", tmp_path)
    lamina_ok(tmp_path, "run", "client_array.py")
    lamina_ok(tmp_path, "run", "client_numbers.py", "--set", "n=3")
    assert lamina(tmp_path, "run", "client_numbers.py", "--set", "fail_at=4").returncode == 1
    failed, ok, _array = run_ids(tmp_path)
    # latest: the newest run whatever its status; FLOW/latest: the flow's newest success
    for ref, run_id in (("latest", failed), ("client-numbers/latest", ok)):
        assert json.loads(lamina_ok(tmp_path, "show", ref, "--json"))["id"] == run_id
        assert f"==> {run_id}/numbers/0 <==" in lamina_ok(tmp_path, "logs", ref)
        assert f"diff {run_id} -> {run_id}" in lamina_ok(tmp_path, "diff", ref, ref)
        assert lamina_ok(tmp_path, "tag", ref, "seen").startswith(f"{run_id}: tags seen")
        assert f"wrote {run_id[-6:]}.bin" in lamina_ok(
            tmp_path, "get", f"{ref}/numbers/0", "-o", f"{run_id[-6:]}.bin")
    assert f"resumed from {ok}" in lamina_ok(tmp_path, "resume", "client-numbers/latest")
    newest = run_ids(tmp_path)[0]  # the run that resume just made
    assert f"resumed from {newest}" in lamina_ok(tmp_path, "resume", "latest")


def test_resume_of_an_unknown_run(tmp_path: Path) -> None:
    proc = lamina(tmp_path, "resume", "no-such-run")
    assert proc.returncode == 1
    assert "no-such-run" in proc.stderr and "lamina runs" in proc.stderr


# -- errors: exit 1, the thing and the fix --------------------------------------------------


def test_unknown_run(project) -> None:
    for command in (
        ("show", "nope"),
        ("logs", "nope"),
        ("diff", project.n3, "nope"),
        ("tag", "nope", "x"),
    ):
        proc = lamina(project.root, *command)
        assert proc.returncode == 1, command
        assert "no run 'nope'" in proc.stderr
        assert "fix:" in proc.stderr and "lamina runs" in proc.stderr


def test_unknown_flow_latest_names_the_flows(project) -> None:
    proc = lamina(project.root, "show", "churn/latest")
    assert proc.returncode == 1
    assert "flow 'churn'" in proc.stderr
    assert "client-array" in proc.stderr and "client-numbers" in proc.stderr


def test_unknown_step_lists_the_steps(project) -> None:
    proc = lamina(project.root, "show", f"{project.n3}/sqaure")
    assert proc.returncode == 1
    assert "no step 'sqaure'" in proc.stderr
    assert "numbers, square, total" in proc.stderr


def test_set_without_equals(project) -> None:
    proc = lamina(project.root, "run", "client_numbers.py", "--set", "n")
    assert proc.returncode == 1
    assert "--set 'n' is not NAME=VALUE" in proc.stderr
    assert "fix: --set" in proc.stderr


def test_set_value_that_does_not_parse(project) -> None:
    proc = lamina(project.root, "run", "client_numbers.py", "--set", "n=three")
    assert proc.returncode == 1
    assert "n=three" in proc.stderr and "int" in proc.stderr


def test_set_unknown_parameter(project) -> None:
    proc = lamina(project.root, "run", "client_numbers.py", "--set", "nn=3")
    assert proc.returncode == 1
    assert "flow 'client-numbers' has no parameter 'nn'" in proc.stderr
    assert "fail_at, n" in proc.stderr


def test_missing_required_parameter(project) -> None:
    proc = lamina(project.root, "run", "client_required.py")
    assert proc.returncode == 1
    assert "flow parameter 'alpha'" in proc.stderr
    assert "client_required.py:" in proc.stderr
    assert "--set alpha=VALUE" in proc.stderr


def test_errors_start_no_run(project) -> None:
    # none of the failed commands above (bad parameters) recorded a run
    assert run_ids(project.root, "client-required") == []


def test_run_of_a_missing_flow_file(tmp_path: Path) -> None:
    proc = lamina(tmp_path, "run", "nothere.py")
    assert proc.returncode == 1
    assert "nothere.py" in proc.stderr and "does not exist" in proc.stderr


def test_a_run_with_required_parameter_set(tmp_path: Path) -> None:
    copy_flow("client_required.py", tmp_path)
    out = lamina_ok(tmp_path, "run", "client_required.py", "--set", "alpha=0.5", "--set", "count=3")
    assert "params alpha=0.5, count=3" in out
    (run_id,) = run_ids(tmp_path)
    record = json.loads(lamina_ok(tmp_path, "show", run_id, "--json"))
    assert record["params"] == {"alpha": 0.5, "count": 3}


def test_show_prints_a_dict_element_readably(tmp_path: Path) -> None:
    (tmp_path / "grid.py").write_text(
        "from lamina import Flow\n\nflow = Flow('grid')\n\n\n@flow.step\n"
        "def grid() -> list:\n"
        "    return [{'lr': 0.1, 'depth': 3}, {'lr': 0.01, 'depth': 3, 'name': 'x' * 80}]\n\n\n"
        "@flow.step(foreach='grid')\ndef fit(grid: dict) -> float:\n    return grid['lr']\n"
    )
    lamina_ok(tmp_path, "run", "grid.py")
    out = lamina_ok(tmp_path, "show", "latest/fit")
    assert "element grid={'lr': 0.1, 'depth': 3}\n" in out
    assert "element grid={'lr': 0.01, 'depth': 3, 'name': 'xxx" in out and " ...\n" in out
    assert "<dict>" not in out

"""Resume: after a failure, after Ctrl-C, and after ``kill -9`` of the runtime process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proc_util import default_sigint

import lamina
from lamina.errors import RunFailedError
from lamina.flow.loader import load_flow_file

FLOWS = Path(__file__).parent / "flows"


def _lamina(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args], cwd=project, capture_output=True, text=True,
        timeout=timeout,
    )


def _marks(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_resume_reruns_only_the_failed_task_and_its_dependents(project: Path) -> None:
    flag = project / "broken.flag"
    flag.write_text("bug")
    flow = load_flow_file(FLOWS / "runtime_flaky.py")
    with pytest.raises(RunFailedError) as err:
        flow.run(flag=str(flag), runs=str(project / "runs.txt"))
    failed = err.value.run
    assert [t.index for t in failed.failed_tasks()] == [1]
    flag.unlink()  # "fix the bug"
    (project / "runs.txt").write_text("")

    resumed = lamina.resume(failed.id)
    assert resumed.status == "succeeded"
    assert resumed.record.resumed_from == failed.id
    assert resumed["total"].value == 1 + 4 + 9
    executed = (project / "runs.txt").read_text().split("\n")
    assert executed == ["square 2", ""], "only the failed task may run again"
    statuses = {(t.step, t.index): t.status for t in resumed.tasks()}
    assert statuses[("prepare", 0)] == "reused"
    assert statuses[("square", 0)] == "reused" and statuses[("square", 2)] == "reused"
    assert statuses[("square", 1)] == "succeeded" and statuses[("total", 0)] == "succeeded"
    assert resumed["square"][0].record.reused_from == f"{failed.id}/square/0"


def test_resume_from_cli_after_failure(project: Path) -> None:
    flag = project / "broken.flag"
    flag.write_text("bug")
    first = _lamina(project, "run", str(FLOWS / "runtime_flaky.py"))
    assert first.returncode == 1
    assert "ValueError: element 2 is broken" in first.stdout + first.stderr
    assert "lamina resume" in first.stdout + first.stderr
    run_id = lamina.Client().runs("flaky")[0].id
    flag.unlink()
    second = _lamina(project, "resume", run_id)
    assert second.returncode == 0, second.stderr
    latest = lamina.Client().latest_run("flaky")
    assert latest.record.resumed_from == run_id and latest["total"].value == 14


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _start_slow_run(project: Path, n: int = 16) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", str(FLOWS / "runtime_slow.py"), "--set", f"n={n}",
         "--set", "pause=0.3"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint,
    )


def _finished_records(project: Path, run_id: str) -> set[int]:
    folder = project / ".lamina" / "runs" / run_id / "tasks" / "work"
    done = set()
    for path in folder.glob("*.json") if folder.exists() else []:
        if json.loads(path.read_text())["status"] == "succeeded":
            done.add(int(path.stem))
    return done


def test_kill_9_of_the_runtime_then_resume_completes_without_rerunning_finished_tasks(
    project: Path,
) -> None:
    marks = project / "marks.txt"
    proc = _start_slow_run(project)
    _wait_for(lambda: len(_marks(marks)) >= 4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run = lamina.Client().runs("slow")[0]
    finished_before = _finished_records(project, run.id)
    assert 4 <= len(finished_before) < 16
    time.sleep(0.5)  # workers die with the runtime (PDEATHSIG); nothing may write after it
    marks_at_kill = _marks(marks)
    time.sleep(0.7)
    assert _marks(marks) == marks_at_kill, "a worker outlived the killed runtime"
    assert lamina.Client().run(run.id).status == "crashed"

    result = _lamina(project, "resume", run.id)
    assert result.returncode == 0, result.stderr
    resumed = lamina.Client().latest_run("slow")
    assert resumed.record.resumed_from == run.id
    assert resumed["total"].value == sum(i * 10 for i in range(16))
    assert resumed["work"].value == [i * 10 for i in range(16)]  # every artifact intact
    counts = {i: _marks(marks).count(i) for i in range(16)}
    for index in finished_before:
        assert counts[index] == 1, f"task {index} had finished and ran again"
        assert resumed["work"][index].status == "reused"
    assert all(counts[i] >= 1 for i in range(16))


def test_ctrl_c_stops_cleanly_and_the_run_is_resumable(project: Path) -> None:
    marks = project / "marks.txt"
    proc = _start_slow_run(project)
    _wait_for(lambda: len(_marks(marks)) >= 2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "lamina resume" in err
    run = lamina.Client().runs("slow")[0]
    assert run.status == "interrupted"
    result = _lamina(project, "resume", run.id)
    assert result.returncode == 0, result.stderr
    assert lamina.Client().latest_run("slow")["total"].value == sum(i * 10 for i in range(16))


def test_resume_set_parses_by_the_flow_annotations_without_flow(project: Path) -> None:
    flow_file = project / "typed.py"
    flow_file.write_text((FLOWS / "resume_typed.py").read_text())
    flag = project / "flag"
    flag.write_text("set")
    first = _lamina(project, "run", "typed.py", "--set", f"flag={flag}")
    assert first.returncode == 1
    origin = lamina.Client().runs("typed")[0]
    flag.unlink()
    resumed = _lamina(project, "resume", origin.id, "--set", "delay=0")
    assert resumed.returncode == 0, resumed.stderr
    run = lamina.Client().latest_run("typed")
    assert run.record.resumed_from == origin.id
    delay = run.record.params["delay"]
    assert delay == 0.0 and isinstance(delay, float), "the float parameter keeps its type"
    # the same parameters typed on `lamina run --cache`: every task is a cache hit
    cached = _lamina(project, "run", "typed.py", "--set", f"flag={flag}", "--set", "delay=0",
                     "--cache")
    assert cached.returncode == 0, cached.stderr
    again = lamina.Client().latest_run("typed")
    assert again.id != run.id
    assert all(t.record.reused_from for t in again.tasks()), [t.record for t in again.tasks()]


def test_resume_set_types_an_unannotated_parameter_like_the_recorded_value() -> None:
    from lamina.cli.commands.run import typed_like_recorded

    recorded = {"rate": 0.5, "count": 3, "name": "a"}
    typed = typed_like_recorded({"rate": 0, "count": 4, "name": 7}, recorded, None)
    assert typed == {"rate": 0.0, "count": 4, "name": 7}
    assert isinstance(typed["rate"], float) and isinstance(typed["count"], int)


def test_a_run_resumed_from_an_engine_run_is_recorded_as_what_ran_it(project: Path) -> None:
    from lamina.records import RunRecord
    from lamina.runtime.launch import carried_tags

    (project / "dags").mkdir()
    (project / "lamina.toml").write_text(
        '[stacks.af]\norchestrator = { plugin = "airflow", dags_folder = "dags" }\n')
    flag = project / "broken.flag"
    flag.write_text("bug")
    flow = load_flow_file(FLOWS / "runtime_flaky.py")
    with pytest.raises(RunFailedError) as err:
        flow.run(stack="af", flag=str(flag), runs=str(project / "runs.txt"))
    # `lamina run`/`resume` on a stack whose orchestrator compiles for Airflow run here
    assert err.value.run.record.orchestrator == "local"
    engine_run = RunRecord(run_id="r1", flow="flaky", status="failed", started_at=0.0,
                           orchestrator="airflow",
                           tags=("airflow-dag:flaky", "airflow-run:manual__1", "mine",
                                 "airflow-notes"))
    assert carried_tags(engine_run) == ["mine", "airflow-notes"]
    local_run = RunRecord(run_id="r2", flow="flaky", status="failed", started_at=0.0,
                          orchestrator="local", tags=("airflow-run:x", "mine"))
    assert carried_tags(local_run) == ["airflow-run:x", "mine"]


def test_resume_of_a_run_whose_datastore_folder_is_not_here_says_so(project: Path) -> None:
    from lamina.records import RunRecord

    stack = lamina.Stack.load(None)
    stack.metadata.create_run(RunRecord(
        run_id="20261203T000000000-abcdef", flow="flaky", status="running", started_at=1.0,
        flow_file="flow.py", datastore_url="/srv/elsewhere/.lamina"))
    stack.metadata.finish_run("20261203T000000000-abcdef", status="failed", finished_at=2.0)
    done = _lamina(project, "resume", "20261203T000000000-abcdef")
    assert done.returncode == 1
    assert "/srv/elsewhere/.lamina, which is not on this machine" in done.stderr, done.stderr
    assert "--from STACK" in done.stderr
    assert not Path("/srv/elsewhere").exists()

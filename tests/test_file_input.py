"""``lamina.File`` parameters: the file's bytes are stored at launch, the run records the
path and hash, and every task (and every resume) reads those bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from client_util import cli_env, lamina

import lamina as lamina_api
from lamina import File
from lamina.errors import ParameterError, RunFailedError
from lamina.flow.files import is_file_annotation
from lamina.flow.loader import load_flow_file
from lamina.records import ArtifactRef
from lamina.runtime.layout import task_record_key

FLOWS = Path(__file__).parent / "flows"


def test_resumed_run_reads_the_bytes_of_the_launch(project: Path) -> None:
    data, flag = project / "table.csv", project / "broken.flag"
    data.write_bytes(b"a,b\n1,2\n")
    flag.write_text("bug")
    flow = load_flow_file(FLOWS / "file_input.py")
    with pytest.raises(RunFailedError) as err:
        flow.run(data="table.csv", flag=str(flag))
    failed = err.value.run
    recorded = failed.record.params["data"]
    assert recorded["lamina.File"] == "table.csv" and recorded["size"] == 8
    assert failed["size"].value == 8

    data.write_bytes(b"changed since the launch\n")  # the laptop's file changes
    flag.unlink()
    resumed = lamina_api.resume(failed.id)
    assert resumed.record.params["data"] == recorded
    out = resumed["check"].value
    assert out["bytes"] == b"a,b\n1,2\n" and out["text"] == "a,b\n1,2\n"
    assert out["hash"] == recorded["hash"] and out["name"] == "table.csv"
    assert out["suffix"] == ".csv"

    fresh = flow.run(data=str(data), flag=str(flag))  # a new run stores the new bytes
    assert fresh["check"].value["bytes"] == b"changed since the launch\n"
    assert fresh.record.params["data"]["hash"] != recorded["hash"]

    # A remote task (the one entry point remote computes launch) reads the stored bytes,
    # from another folder, with the laptop's file gone.
    data.unlink()
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", failed.record.datastore_url,
         "--run", failed.id, "--step", "check", "--index", "0"],
        cwd=elsewhere, env=cli_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    artifacts = lamina_api.load_stack().artifacts
    record = artifacts.get_json(task_record_key(failed.id, "check", 0))
    assert record["status"] == "succeeded", record["error"]
    value = artifacts.load(ArtifactRef.from_dict(record["output"]))
    assert value["bytes"] == b"a,b\n1,2\n"


def test_missing_file_is_a_one_line_error_before_any_task(project: Path) -> None:
    flow = load_flow_file(FLOWS / "file_input.py")
    with pytest.raises(ParameterError) as err:
        flow.run(data="nowhere.csv")
    assert str(err.value).splitlines()[0] == "File parameter 'data': nowhere.csv does not exist"
    assert not lamina_api.Client(lamina_api.load_stack()).runs("file-input")
    proc = lamina(project, "run", str(FLOWS / "file_input.py"), "--set", "data=nowhere.csv")
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[0] == "lamina: error: File parameter 'data': nowhere.csv does not exist"


def test_cli_records_the_path_and_hash(project: Path) -> None:
    (project / "2026.csv").write_text("x\n")  # a name JSON would take for a number
    proc = lamina(project, "run", str(FLOWS / "file_input.py"), "--set", "data=2026.csv")
    assert proc.returncode == 0, proc.stderr
    assert "data={'lamina.File': '2026.csv', 'hash': '" in proc.stdout


def test_a_file_made_by_hand_reads_its_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    f = File(str(path))
    assert (f.name, f.read_text(), f.path) == ("notes.txt", "hello", path)
    stored = File("notes.txt", "0" * 64)
    with pytest.raises(lamina_api.errors.LaminaError, match="no store was given"):
        stored.read_bytes()


def test_file_annotations() -> None:
    from typing import Annotated, Optional

    assert is_file_annotation(File) and is_file_annotation(Annotated[File, "help"])
    assert is_file_annotation(Optional[File]) and is_file_annotation("File")  # noqa: UP045
    assert not is_file_annotation(str) and not is_file_annotation(Annotated[int, "n"])

"""One-line errors instead of tracebacks (defect 9 of the hardening trials): `lamina get`
given an -o that cannot be written, a datastore where no folder can be made, a full disk
while saving (a disk problem, not "return a picklable value")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from client_util import copy_flow, project_stack

from lamina.datastore import artifacts as artifacts_module
from lamina.errors import DatastoreError


def _lamina(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root,
                          capture_output=True, text=True, timeout=180)


def _one_line_error(proc: subprocess.CompletedProcess[str], *said: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lamina: error:")]
    assert len(lines) == 1, proc.stderr
    for text in said:
        assert text in lines[0], proc.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("get")
    copy_flow("client_numbers.py", root)
    ran = _lamina(root, "run", "client_numbers.py")
    assert ran.returncode == 0, ran.stderr
    return root, json.loads(_lamina(root, "runs", "--json").stdout)[0]["run_id"]


@pytest.mark.parametrize(("output", "said"), [
    ("", "-o is empty"),
    ("folder", "-o 'folder' is a folder"),
    ("missing/out.bin", "the folder 'missing' does not exist"),
])
def test_get_refuses_an_output_it_cannot_write(finished, output: str, said: str) -> None:
    root, run_id = finished
    (root / "folder").mkdir(exist_ok=True)
    _one_line_error(_lamina(root, "get", f"{run_id}/total", "-o", output), said)


@pytest.mark.parametrize(("url", "said"), [
    ("flow_file_here/store", "a file stands where a folder is needed"),
    ("/sys/lamina-store", "not permitted"),  # sysfs: no folder can be made, even by root
])
def test_a_datastore_where_no_folder_can_be_made_is_one_line(tmp_path: Path, url: str,
                                                              said: str) -> None:
    copy_flow("client_numbers.py", tmp_path)
    (tmp_path / "flow_file_here").write_text("a file, not a folder")
    (tmp_path / "lamina.toml").write_text(f'[stacks.a]\ndatastore = "{url}"\n')
    _one_line_error(_lamina(tmp_path, "run", "client_numbers.py"), said)


def test_a_full_disk_while_saving_is_a_disk_problem(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    stack = project_stack(tmp_path)
    real = artifacts_module._create_staged

    def staged_on_a_full_disk(staging: str) -> tuple[int, str]:
        fd, path = real(staging)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path  # every write: ENOSPC, from the kernel

    monkeypatch.setattr(artifacts_module, "_create_staged", staged_on_a_full_disk)
    big = os.urandom(artifacts_module.SMALL_OBJECT + 1024)  # spills to a staged file
    with pytest.raises(DatastoreError) as info:
        stack.artifacts.save(big, name="r/s/0")
    message = str(info.value)
    assert "saving artifact 'r/s/0': the disk is full" in message and "picklable" not in message
    stack.close()


def test_a_task_on_a_full_disk_fails_saying_so(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina import Flow

    flow = Flow("fulldisk")

    @flow.step
    def big() -> bytes:
        return os.urandom(artifacts_module.SMALL_OBJECT + 1024)

    stack = project_stack(tmp_path)
    monkeypatch.setattr(artifacts_module, "_create_staged",
                        lambda staging: (os.open("/dev/full", os.O_WRONLY),
                                         os.path.join(staging, ".stage-full")))
    run = flow.run(stack=stack, raise_on_failure=False)
    assert "the disk is full" in run["big"].task.error
    stack.close()

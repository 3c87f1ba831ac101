"""Helpers shared by the datastore tests (real files, real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamina.builtin.file_datastore import FileDatastore
from lamina.datastore.artifacts import ArtifactStore
from lamina.datastore.hashing import file_digest
from lamina.datastore.serializers import builtin_serializers

WORKER = str(Path(__file__).with_name("ds_worker.py"))


def make_store(root: Path | str, **kw) -> ArtifactStore:
    return ArtifactStore(FileDatastore(str(root)), builtin_serializers(), **kw)


def object_files(root: Path) -> list[Path]:
    objects = Path(root) / "objects"
    return sorted(p for p in objects.rglob("*") if p.is_file()) if objects.exists() else []


def assert_objects_valid(root: Path) -> int:
    """Every object under ``root/objects`` hashes to its own name; return how many."""
    files = object_files(root)
    for path in files:
        digest, _ = file_digest(path)
        assert digest == path.name, f"object {path} does not match its name"
        assert path.parent.name == path.name[:2]
    return len(files)


def start_worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WORKER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.005)


def staged_files(root: Path) -> list[Path]:
    tmp = Path(root) / "tmp"
    return [p for p in tmp.iterdir() if p.is_file()] if tmp.exists() else []


def chmod_writable(path: Path) -> None:
    os.chmod(path, 0o644)

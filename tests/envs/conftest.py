"""Per-step environments with the real uv and the package index this machine's uv
reaches: each test session builds its environments in a folder of its own, and a
wrapper around uv counts its invocations."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "dask"))  # dask_util, for the Dask test

FLOWS = Path(__file__).with_name("flows")


class UvCalls:
    """A uv wrapper script (``LAMINA_UV``) that logs each invocation, then runs uv."""

    def __init__(self, folder: Path) -> None:
        from lamina.runtime.envs import find_uv

        real = find_uv()
        self.log = folder / "uv-calls.txt"
        self.script = folder / "uv"
        self.script.write_text(f'#!/bin/sh\necho "$@" >> "{self.log}"\nexec "{real}" "$@"\n')
        self.script.chmod(self.script.stat().st_mode | stat.S_IEXEC)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture(scope="session")
def session_envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environments folder every test of the session shares (a warm cache after the
    first build)."""
    return tmp_path_factory.mktemp("lamina-envs")


@pytest.fixture
def uv_calls(session_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvCalls:
    monkeypatch.setenv("LAMINA_ENVS_DIR", str(session_envs))
    monkeypatch.delenv("LAMINA_UV", raising=False)
    calls = UvCalls(tmp_path)
    monkeypatch.setenv("LAMINA_UV", str(calls.script))
    return calls


@pytest.fixture
def env_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the working directory) holding the test flow."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "env_flow.py").write_bytes((FLOWS / "env_flow.py").read_bytes())
    monkeypatch.chdir(root)
    for var in ("LAMINA_STACK", "LAMINA_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return root

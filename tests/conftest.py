"""Shared fixtures: every test that runs flows gets its own project folder, so the
embedded default stack (``.lamina/`` in the project) never leaks between tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FLOWS = Path(__file__).parent / "flows"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory, with no stack configured."""
    monkeypatch.chdir(tmp_path)
    for var in ("LAMINA_STACK", "LAMINA_CONFIG", "LAMINA_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def lamina_cmd() -> list[str]:
    """The CLI as a subprocess command (the installed console script's equivalent)."""
    return [sys.executable, "-m", "lamina"]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env



@pytest.fixture(autouse=True)
def _fork_safety_per_test() -> Iterator[None]:
    """A test that used delta-rs marks the pytest process fork-unsafe for good
    (lamina.runtime.forks); the next test starts from what was marked before this one."""
    from lamina.runtime import forks

    saved = list(forks._REASONS)
    yield
    forks._REASONS[:] = saved

"""Install fixture distributions with a real installer and run ``lamina`` in subprocesses.

Each distribution goes into its own ``--target`` folder, so a test chooses exactly which
plugins are visible (by putting their folders on ``sys.path`` / ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = ("good", "broken", "dup_a", "dup_b", "typo")
AUDIT_PLUGIN = REPO / "examples" / "audit_plugin"

_installed: dict[str, Path] = {}


def find_uv() -> str | None:
    """uv from the test environment (a dev dependency), else from PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def installer() -> list[str] | None:
    """The command that installs a local project folder into --target, or None."""
    uv = find_uv()
    if uv:
        return [uv, "pip", "install", "--python", sys.executable, "--no-deps", "--reinstall",
                "--quiet"]
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    return None


def install_all(base: Path, projects: dict[str, Path]) -> dict[str, Path]:
    """Install each project folder into ``base/<key>`` (in parallel); cached per session."""
    todo = {k: p for k, p in projects.items() if k not in _installed}
    if todo:
        cmd = installer()
        if cmd is None:
            pytest.skip("neither uv nor pip is available to install fixture plugins")
        procs = {}
        for key, project in todo.items():
            target = base / key
            procs[key] = (
                target,
                subprocess.Popen(
                    [*cmd, "--target", str(target), str(project)],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                ),
            )
        for key, (target, proc) in procs.items():
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"installing {todo[key]} failed:\n{out}")
            _installed[key] = target
    return {k: _installed[k] for k in projects}


@pytest.fixture(scope="session")
def fake_plugins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture distribution installed: name -> its --target folder."""
    base = tmp_path_factory.mktemp("kernel-plugins")
    return install_all(base, {name: HERE / name for name in FIXTURES})


@pytest.fixture(scope="session")
def audit_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/audit_plugin installed into a --target folder."""
    base = tmp_path_factory.mktemp("audit-plugin")
    return install_all(base, {"audit": AUDIT_PLUGIN})["audit"]


def lamina_env(paths: list[Path], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def run_lamina(
    args: list[str], *, cwd: Path, paths: list[Path] = (), **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m lamina ARGS`` in ``cwd`` with the given plugin folders visible."""
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args],
        cwd=cwd, env=lamina_env(list(paths), **extra_env),
        capture_output=True, text=True, timeout=120,
    )

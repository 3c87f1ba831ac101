"""Helpers shared by the Client, diff, CLI and remote-task tests: copy a test flow into a
project folder, load the embedded default stack there, call the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

FLOWS = Path(__file__).with_name("flows")


def copy_flow(name: str, project: Path) -> Path:
    """Copy ``tests/flows/NAME`` into ``project`` (so runs snapshot it from there and a
    test may edit it) and return the copy's path."""
    project.mkdir(parents=True, exist_ok=True)
    target = project / name
    shutil.copyfile(FLOWS / name, target)
    return target


def load(path: Path) -> Any:
    from lamina.flow.loader import load_flow_file

    return load_flow_file(path)


def project_stack(project: Path) -> Any:
    """The embedded default stack of ``project`` (its ``.lamina/`` folder), whatever the
    environment of the test process says."""
    from lamina.stack import Stack

    return Stack.load(cwd=project, env={})


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def lamina(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m lamina ARGS`` in ``cwd``; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def lamina_ok(cwd: Path, *args: str) -> str:
    """Like :func:`lamina` but the command must succeed; returns its standard output."""
    proc = lamina(cwd, *args)
    assert proc.returncode == 0, f"lamina {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def run_ids(cwd: Path, *filters: str) -> list[str]:
    """Run ids as ``lamina runs --json`` lists them (newest first)."""
    return [r["id"] for r in json.loads(lamina_ok(cwd, "runs", "--json", *filters))]

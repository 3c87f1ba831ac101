"""From built wheels into a brand-new virtual environment: the package as users get it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_fixtures.helpers import find_uv

REPO = Path(__file__).resolve().parent.parent

UV = find_uv()  # a dev dependency: its absence is a broken test environment, not a skip

pytestmark = [pytest.mark.slow]


def sh(*args: str | Path, cwd: Path | None = None, env: dict | None = None,
       timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheels")
    dist = base / "dist"
    sh(UV, "build", "--wheel", "--out-dir", dist, REPO)
    sh(UV, "build", "--wheel", "--out-dir", dist, REPO / "examples" / "audit_plugin")
    env_dir = base / "venv"
    sh(UV, "venv", "--python", sys.executable, env_dir)
    python = env_dir / "bin" / "python"
    (wheel,) = dist.glob("lamina-*.whl")
    sh(UV, "pip", "install", "--python", python, wheel)
    return env_dir


def clean_env(env_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAMINA_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def test_installed_wheel_runs_plugins_and_stack_show(venv, tmp_path):
    env = clean_env(venv)
    lamina = venv / "bin" / "lamina"
    where = sh(venv / "bin" / "python", "-c", "import lamina; print(lamina.__file__)",
               cwd=tmp_path, env=env)
    assert str(venv) in where.stdout  # the wheel's copy, not the source tree
    plugins = sh(lamina, "plugins", cwd=tmp_path, env=env)
    assert plugins.stdout.startswith("lamina 0.1.0\n  entry point: builtin = lamina.builtin.plugin")
    assert "datastore/file, compute/local, orchestrator/local, metadata/sqlite" in plugins.stdout
    assert "Broken plugins" not in plugins.stdout
    show = sh(lamina, "stack", "show", cwd=tmp_path, env=env)
    assert show.stdout.startswith("Stack 'default' (embedded default, no config file)")
    assert "  compute       local  from lamina 0.1.0 [default]" in show.stdout
    assert list(tmp_path.iterdir()) == []  # showing a stack creates nothing


def test_plugin_wheel_is_discovered(venv, tmp_path):
    env = clean_env(venv)
    (wheel,) = (venv.parent / "dist").glob("lamina_audit_log-*.whl")
    sh(UV, "pip", "install", "--python", venv / "bin" / "python", wheel)
    out = sh(venv / "bin" / "lamina", "plugins", cwd=tmp_path, env=env).stdout
    assert "lamina-audit-log 0.1.0\n  entry point: audit = lamina_audit_log.plugin" in out

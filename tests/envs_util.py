"""Separate virtual environments and loopback servers for integration tests.

Some real components cannot share the project's environment (Airflow 3 and MLServer pin
incompatible fastapi versions), so a test asks for an environment of its own by name and
requirement list. It is created once with uv, cached under ``.cache/test-envs/`` in the
repository (or ``$LAMINA_TEST_ENVS``), keyed by the requirements, and reused by later runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def envs_root() -> Path:
    return Path(os.environ.get("LAMINA_TEST_ENVS") or REPO / ".cache" / "test-envs")


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is needed to build test environments: run scripts/bootstrap.sh")
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_env(
    name: str,
    requirements: Sequence[str],
    *,
    editable: Sequence[Path] = (),
    python: str = "3.11",
) -> Path:
    """The ``python`` executable of an environment holding ``requirements`` (pip specs)
    and the local projects in ``editable`` (installed with their dependencies).

    Safe to call from several test processes at once: creation is under a file lock, and
    an environment counts as ready only once its marker file exists.
    """
    key = hashlib.sha256(
        repr((sorted(requirements), sorted(str(p) for p in editable), python)).encode()
    ).hexdigest()[:12]
    root = envs_root() / f"{name}-{key}"
    py = root / "bin" / "python"
    marker = root / ".ready"
    if marker.exists():
        return py
    with _locked(envs_root() / f".{name}-{key}.lock"):
        if marker.exists():
            return py
        if root.exists():
            shutil.rmtree(root)
        uv = _uv()
        env = {**os.environ, "UV_COMPILE_BYTECODE": "0"}
        env.pop("VIRTUAL_ENV", None)
        subprocess.run([uv, "venv", "--quiet", "--python", python, str(root)], check=True,
                       env=env)
        args = [uv, "pip", "install", "--quiet", "--python", str(py), *requirements]
        for project in editable:
            args += ["-e", str(project)]
        subprocess.run(args, check=True, env=env)
        marker.write_text("ok")
    return py


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 60.0,
                  process: subprocess.Popen | None = None) -> None:
    """Block until something accepts connections on ``host:port``; fail early if
    ``process`` (the server being started) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before "
                               f"listening on {host}:{port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """Terminate a server started by a fixture (its whole process group if it has one)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
    except (ProcessLookupError, PermissionError):
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait(timeout)


@contextlib.contextmanager
def running(server: Any) -> Iterator[Any]:
    """``server.start()`` now and ``server.stop()`` when the block ends, also when the start
    fails half-way (a session fixture: ``with running(Server(dir)) as s: yield s``)."""
    try:
        server.start()
        yield server
    finally:
        server.stop()

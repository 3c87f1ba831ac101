"""Helpers of the UI tests: the real CLI in a subprocess, a free loopback port, a running
``lamina ui`` server, and Chromium (Debian's) driven headless by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows")
CHROMIUM = "/usr/bin/chromium"
#: Flags that keep Chromium from calling home (see the design notes' browser row).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-breakpad",
    "--disable-domain-reliability", "--no-pings",
]

#: A payload that would run or render if any user string reached the page unescaped.
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    out.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return out


def lamina(cwd: Path, *args: str, check: bool = True,
           environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m lamina ARGS`` in ``cwd`` (with ``environ`` instead of this process's)."""
    proc = subprocess.run([sys.executable, "-m", "lamina", *args], cwd=cwd,
                          env=environ or env(),
                          capture_output=True, text=True, timeout=180)
    if check:
        assert proc.returncode == 0, f"lamina {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc


def run_flow(project: Path, flow: str, *args: str, check: bool = True,
             environ: dict[str, str] | None = None) -> str:
    """Run ``tests/ui/flows/FLOW`` in ``project`` with the real CLI; return the run id."""
    target = project / flow
    if not target.exists():
        shutil.copyfile(FLOWS / flow, target)
    before = set(run_ids(project, environ))
    lamina(project, "run", flow, *args, check=check, environ=environ)
    new = [r for r in run_ids(project, environ) if r not in before]
    assert len(new) == 1, new
    return new[0]


def run_ids(project: Path, environ: dict[str, str] | None = None) -> list[str]:
    proc = lamina(project, "runs", "--json", environ=environ)
    return [r["run_id"] for r in json.loads(proc.stdout or "[]")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    """A GET that returns (status, body, headers) for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


@contextmanager
def ui_server(project: Path, *extra: str, environ: dict[str, str] | None = None
              ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``lamina ui`` on a free loopback port in ``project``; yields (base URL, process)."""
    port = free_port()
    args = [sys.executable, "-m", "lamina", "ui", "--port", str(port), *extra]
    if "--host" not in extra:
        args += ["--host", "127.0.0.1"]
    proc = subprocess.Popen(args, cwd=project, env=environ or env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"lamina ui exited {proc.returncode}: {proc.stderr.read()}")
            try:
                status, _, _ = get(base + "/healthz")
                if status in (200, 401):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("lamina ui did not start in 30 s")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()

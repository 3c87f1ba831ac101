"""Helpers of the serving tests: a trained project and `lamina serve` subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envs_util import free_port, stop_process, wait_for_port

FLOW = Path(__file__).with_name("iris_flow.py")


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("LAMINA_STACK", "LAMINA_CONFIG"):
        env.pop(var, None)
    return env


def lamina(project: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lamina", *args], cwd=project, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"lamina {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def train(project: Path) -> tuple[str, str]:
    """Two runs of the iris flow (two model versions); returns their FLOW/RUN/STEP refs."""
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(FLOW, project / "iris_flow.py")
    lamina(project, "run", "iris_flow.py")
    lamina(project, "run", "iris_flow.py", "--set", "C=0.01")
    from lamina.client import Client
    from lamina.stack import Stack

    runs = Client(Stack.load(cwd=project, env={})).runs("iris")
    new, old = runs[0], runs[1]
    return f"iris/{old.id}/model", f"iris/{new.id}/model"


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Server:
    """A `lamina serve` subprocess on a free loopback port."""

    def __init__(self, project: Path, args: Sequence[str], *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.project = project
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lamina", "serve", *args, "--port", str(self.port),
             "--flush-seconds", "0.5"],
            cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        try:
            wait_for_port(self.port, process=self.proc, timeout=180)
            deadline = time.monotonic() + 60
            while get(f"{self.base}/v2/health/ready")[0] != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("server not ready")
                time.sleep(0.1)
        except Exception:
            self.stop()
            raise AssertionError(f"server did not start:\n{self.proc.stderr.read()}") from None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> tuple[str, str]:
        """SIGTERM (what Ctrl-C / a supervisor does); the last log batch is written."""
        stop_process(self.proc, timeout=60)
        out, err = self.proc.communicate()
        return out, err


def infer_body(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    flat = [x for r in rows for x in r]
    return {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), 4],
                        "data": flat}], **extra}


def dumps(obj: Any) -> str:
    return json.dumps(obj)

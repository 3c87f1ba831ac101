"""The builtin ``local`` serving backend: each deployment is a ``lamina serve`` process on
this machine, started in the background; its state (pid, port, spec) lives in
``.lamina/serving/<name>.json`` under the project, its output in ``<name>.log`` beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lamina.serving.errors import ServingError
from lamina.serving.spec import Deployment


def _stop_group(pid: int) -> None:
    """SIGTERM to the server's process group (its workers too); on Windows, which has no
    process groups of that kind, to the server process."""
    if sys.platform == "win32":
        os.kill(pid, signal.SIGTERM)
    else:
        os.killpg(pid, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class LocalServingBackend:
    """Deploys to background ``lamina serve`` processes (one per deployment)."""

    def __init__(self, options: Any, stack: Any) -> None:
        self.options = options
        self.stack = stack
        self.folder = Path(stack.project_root) / ".lamina" / "serving"

    def _state_file(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def _choose_port(self, deployment: Deployment) -> int:
        if deployment.port is not None:
            return deployment.port
        taken = {d.get("port") for d in self.list_deployments()}
        port = self.options.port
        while port in taken or not _port_free(self.options.host, port):
            port += 1
        return port

    def _command(self, spec_file: Path, port: int) -> list[str]:
        cmd = [sys.executable, "-m", "lamina", "serve", str(spec_file),
               "--host", self.options.host, "--port", str(port),
               "--flush-seconds", str(self.options.flush_seconds),
               "--max-body-bytes", str(self.options.max_body_bytes),
               "--stack", self.stack.name]
        if self.stack.config_file is not None:
            cmd += ["--config", str(self.stack.config_file)]
        return cmd

    def deploy(self, deployment: Deployment, *, dry_run: bool = False) -> str:
        from lamina.serving.model import resolve_model

        # resolve every model first: a bad reference fails here, not in a background process
        variants = [*deployment.variants, *([deployment.mirror] if deployment.mirror else [])]
        resolved = {v.name: resolve_model(self.stack, v.model).ref for v in variants}
        port = self._choose_port(deployment)
        spec_file = self.folder / f"{deployment.name}.spec.json"
        url = f"http://{self.options.host}:{port}/v2/models/{deployment.name}"
        if dry_run:
            models = "\n".join(f"  {v.name}: {v.model} -> {resolved[v.name]} ({v.weight:g}%)"
                               for v in variants)
            return (f"would serve {deployment.name} at {url}:\n{models}\n  "
                    + " ".join(self._command(spec_file, port)) + "\n"
                    + json.dumps(deployment.to_dict(), indent=2))
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._state_file(deployment.name).exists():
            self.undeploy(deployment.name)
        spec_file.write_text(json.dumps(deployment.to_dict(), indent=2))
        log_file = self.folder / f"{deployment.name}.log"
        env = dict(os.environ)
        if self.options.token:  # through the environment: a command line is visible to all
            env["LAMINA_SERVE_TOKEN"] = self.options.token
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(
                self._command(spec_file, port), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.stack.project_root,
                env=env,
            )
        deadline = time.monotonic() + 120
        import urllib.request

        while True:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-2000:]
                raise ServingError(
                    f"deployment {deployment.name!r}: the server exited with code "
                    f"{proc.returncode} before answering:\n{tail}",
                    hint=f"the whole output is in {log_file}",
                )
            try:
                with urllib.request.urlopen(
                    f"http://{self.options.host}:{port}/v2/health/ready", timeout=1
                ) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                _stop_group(proc.pid)
                raise ServingError(f"deployment {deployment.name!r}: no answer on port {port} "
                                   "after 120 s", hint=f"see {log_file}")
            time.sleep(0.2)
        self._state_file(deployment.name).write_text(json.dumps(
            {"name": deployment.name, "pid": proc.pid, "port": port, "url": url,
             "log": str(log_file), "deployment": deployment.to_dict()}, indent=2))
        self.stack.hook.lamina_model_deployed(deployment=deployment, endpoint=url)
        return url

    def undeploy(self, name: str) -> None:
        state_file = self._state_file(name)
        if not state_file.exists():
            known = ", ".join(d["name"] for d in self.list_deployments()) or "none"
            raise ServingError(f"no local deployment named {name!r}",
                               hint=f"running deployments: {known}")
        state = json.loads(state_file.read_text())
        pid = int(state["pid"])
        if _alive(pid):
            try:
                _stop_group(pid)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                if sys.platform != "win32":
                    try:  # reap it if it is our child
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
                time.sleep(0.1)
        state_file.unlink(missing_ok=True)

    def list_deployments(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.folder.is_dir():
            return out
        for f in sorted(self.folder.glob("*.json")):
            if f.name.endswith(".spec.json"):
                continue
            state = json.loads(f.read_text())
            if _alive(int(state["pid"])):
                out.append(state)
        return out

    def check(self) -> str:
        try:
            import uvicorn
        except ImportError:
            raise ServingError("the local model server needs uvicorn",
                               hint="pip install 'lamina[serving]'") from None
        running = self.list_deployments()
        return (f"local serving (uvicorn {uvicorn.__version__}): {len(running)} deployment(s) "
                f"running on {self.options.host}")

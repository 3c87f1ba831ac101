"""A plugin as a platform team would write it, outside lamina.

- datastore ``sized``: the file datastore, but every object write is checked against
  ``max_bytes`` (refused over it) and logged, with the name of the process that wrote it,
  to ``<datastore>/sized-writes.log``; its ``token`` option (a credential) is checked to
  be set and only its digest is logged;
- a task hook that reads its settings from the stack (``context.stack``), never from
  module globals, and appends one JSON line per task to ``[plugins.sized] hook_log``;
- compute ``subprocess``: each task is one ``python -m lamina task`` process, launched
  with the command every remote backend uses, and settled from the outcome it wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

import attrs

import lamina
from lamina.errors import ConfigError, LaminaError
from lamina.interfaces import ComponentSpec


@attrs.define
class SizedOptions:
    """Options of the ``sized`` datastore.

    :param url: where objects live (as for the file datastore).
    :param max_bytes: the largest object accepted.
    :param token: a credential the datastore needs (give it as "${VAR}").
    """

    url: str = ".lamina"
    max_bytes: int = 1_000_000
    token: str = ""


class SizeLimitError(LaminaError):
    """An object over the datastore's size limit."""


class SizedDatastore:
    """The file datastore with a size limit and a write log."""

    def __init__(self, inner: Any, options: SizedOptions) -> None:
        self._inner = inner
        self.options = options
        self.url = inner.url
        if not options.token:
            raise ConfigError("datastore 'sized': option 'token' is empty",
                                            hint='token = "${SIZED_TOKEN}"')
        self._digest = hashlib.sha256(options.token.encode()).hexdigest()[:16]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _log(self, what: str, size: int) -> None:
        line = json.dumps({"what": what, "size": size, "pid": os.getpid(),
                           "argv": sys.argv[1:3], "token": self._digest})
        os.makedirs(self._inner.root, exist_ok=True)
        with open(os.path.join(self._inner.root, "sized-writes.log"), "a") as f:
            f.write(line + "\n")

    def _check(self, size: int, key: str) -> None:
        if size > self.options.max_bytes:
            self._log("refused", size)
            raise SizeLimitError(
                f"datastore 'sized': object {key[:12]} is {size} bytes, over max_bytes="
                f"{self.options.max_bytes}",
                hint="store less, or raise max_bytes",
            )

    def put_blob(self, key: str, data: bytes) -> bool:
        self._check(len(data), key)
        self._log("blob", len(data))
        return bool(self._inner.put_blob(key, data))

    def commit_blob(self, staged_path: str, key: str) -> bool:
        size = os.path.getsize(staged_path)
        if size > self.options.max_bytes:
            os.unlink(staged_path)
        self._check(size, key)
        self._log("blob", size)
        return bool(self._inner.commit_blob(staged_path, key))


def _sized(options: SizedOptions, stack: Any) -> SizedDatastore:
    from lamina.builtin.file_datastore import FileDatastore

    inner = FileDatastore(stack.resolve_path(options.url))
    return SizedDatastore(inner, options)


@attrs.define
class SubprocessOptions:
    """Options of the ``subprocess`` compute: none."""


class SubprocessCompute:
    """Each task is a ``python -m lamina task`` process, run to its end in ``poll``."""

    max_in_flight = 1

    def __init__(self) -> None:
        self._queue: list[Any] = []
        self._ctx: Any = None

    def start(self, run_context: object) -> None:
        self._ctx = run_context

    def submit(self, spec: Any) -> None:
        self._queue.append(spec)

    def running(self) -> int:
        return len(self._queue)

    def poll(self, timeout: float) -> list[Any]:
        from lamina.compute.remote_common import settle, task_command

        done = []
        while self._queue:
            spec = self._queue.pop(0)
            cmd = task_command(spec, python=sys.executable)
            with open(os.environ["SIZED_COMMANDS"], "a") as f:
                f.write(json.dumps(cmd) + "\n")
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                  cwd=os.environ.get("SIZED_TASK_CWD"))
            done.append(settle(
                self._ctx.artifacts, spec, engine_ok=proc.returncode == 0,
                message=f"exit {proc.returncode}", log_text=proc.stdout + proc.stderr,
            ))
        return done

    def shutdown(self, *, cancel: bool) -> None:
        self._queue.clear()

    def check(self) -> str:
        return "subprocess compute"


@lamina.hookimpl
def lamina_datastores() -> list[ComponentSpec]:
    return [ComponentSpec(layer="datastore", name="sized", config=SizedOptions, factory=_sized,
                          description="the file datastore with a size limit")]


@lamina.hookimpl
def lamina_compute_backends() -> list[ComponentSpec]:
    return [ComponentSpec(layer="compute", name="subprocess", config=SubprocessOptions,
                          factory=lambda options, stack: SubprocessCompute(),
                          description="every task a `python -m lamina task` process")]


def _note(spec: Any, outcome: Any, context: Any) -> None:
    stack = context.stack
    settings = stack.config.plugins.get("sized", {})
    line = {
        "task": spec.task_id,
        "status": outcome.status,
        "datastore": stack.spec("datastore").name,
        "max_bytes": stack.options("datastore").max_bytes,
        "stack": stack.name,
        "run": context.run_id,
        "manifest_flow": context.manifest()["flow"],
        "pid": os.getpid(),
    }
    with open(settings["hook_log"], "a") as f:
        f.write(json.dumps(line) + "\n")


@lamina.hookimpl
def lamina_after_task(spec: Any, outcome: Any, context: Any) -> None:
    _note(spec, outcome, context)


@lamina.hookimpl
def lamina_on_task_error(spec: Any, outcome: Any, context: Any) -> None:
    _note(spec, outcome, context)

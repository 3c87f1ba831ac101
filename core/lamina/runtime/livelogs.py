"""Live logs: what a running task prints, readable before the task ends.

While a task runs, one flusher thread per process appends the new text of each running
task's captured output as a small record, ``runs/RUN/live/STEP/INDEX/ATTEMPT/NNNNNN.json``
(``{"stdout": ..., "stderr": ..., "out_at": ..., "err_at": ...}``, the offsets saying where
the text starts in the attempt's whole output). Records are written through the datastore,
so any compute that runs :func:`lamina.runtime.task.execute_task` (the local workers, and a
remote task that reaches the same datastore) produces them. A task shorter than the flush
interval writes none: its whole output is in its outcome record.

:class:`LogFollower` reads the live records and the finished attempts' outcomes (each
attempt's text once, in order); ``lamina logs -f`` and ``lamina run --echo`` are built on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.runtime.layout import (
    live_log_chunk_key,
    live_logs_prefix,
    task_attempts_prefix,
    task_records_prefix,
)

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore

#: Seconds between two flushes of the running tasks' new output.
FLUSH_INTERVAL = 0.25

STREAMS = ("stdout", "stderr")


class _LiveTask:
    """One running attempt whose output is flushed: where its streams stand."""

    def __init__(self, artifacts: ArtifactStore, run_id: str, step: str, index: int,
                 attempt: int, out: Any, err: Any) -> None:
        self.artifacts = artifacts
        self.where = (run_id, step, index, attempt)
        self.streams = {"stdout": out, "stderr": err}
        self.sent = {"stdout": 0, "stderr": 0}
        self.chunks = 0
        self.lock = threading.Lock()

    def flush(self) -> None:
        with self.lock:
            texts = {name: stream.text() for name, stream in self.streams.items()}
            if all(len(texts[n]) == self.sent[n] for n in STREAMS):
                return
            self.chunks += 1
            record = {
                "stdout": texts["stdout"][self.sent["stdout"]:],
                "stderr": texts["stderr"][self.sent["stderr"]:],
                "out_at": self.sent["stdout"],
                "err_at": self.sent["stderr"],
            }
            self.artifacts.put_json(live_log_chunk_key(*self.where, self.chunks), record)
            self.sent = {n: len(texts[n]) for n in STREAMS}


class _Flusher:
    """The process's flusher: a daemon thread that flushes every running task's output
    every :data:`FLUSH_INTERVAL` seconds (started again in a forked child)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[int, _LiveTask] = {}
        self.pid = 0
        self.wake = threading.Event()

    def add(self, task: _LiveTask) -> int:
        with self.lock:
            if self.pid != os.getpid():  # no thread yet, or a fork left it behind
                self.pid = os.getpid()
                self.tasks = {}
                self.lock = threading.Lock()  # a forked copy may be held by a dead thread
                threading.Thread(target=self._loop, name="lamina-live-logs", daemon=True).start()
            self.tasks[id(task)] = task
        return id(task)

    def remove(self, token: int) -> None:
        with self.lock:
            task = self.tasks.pop(token, None)
        if task is not None:
            with task.lock:  # wait for a flush of it in progress
                pass

    def _loop(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            self.wake.wait(FLUSH_INTERVAL)
            with self.lock:
                running = list(self.tasks.values())
            for task in running:
                try:
                    task.flush()
                except Exception:  # a live copy is best effort; the outcome keeps the logs
                    pass


_FLUSHER = _Flusher()


def start_live_log(artifacts: ArtifactStore, run_id: str, step: str, index: int,
                   attempt: int, out: Any, err: Any) -> int:
    """Flush ``out``/``err`` (objects with a ``text()`` method: the whole output so far)
    as live records while the attempt runs. Returns a token for :func:`stop_live_log`."""
    return _FLUSHER.add(_LiveTask(artifacts, run_id, step, index, attempt, out, err))


def stop_live_log(token: int) -> None:
    """Stop flushing an attempt's output (its outcome record holds all of it)."""
    _FLUSHER.remove(token)


#: What a follower writes: (step, index, attempt, stream name, text).
Writer = Callable[[str, int, int, str, str], None]


class LogFollower:
    """Reads a run's logs as they grow: every attempt's stdout and stderr once, in order.

    Call :meth:`poll` repeatedly; each call passes the text that appeared since the last
    one to ``write``.

    :param artifacts: the run's artifact store.
    :param run_id: the run to follow.
    :param step: only this step (None: every step); ``index`` only this task of it.
    :param write: called with (step, index, attempt, "stdout" or "stderr", text).
    """

    def __init__(self, artifacts: ArtifactStore, run_id: str, write: Writer, *,
                 step: str | None = None, index: int | None = None) -> None:
        self.artifacts = artifacts
        self.run_id = run_id
        self.write = write
        self.step = step
        self.index = index
        self._shown: dict[tuple[str, int, int], dict[str, int]] = {}
        self._done: set[tuple[str, int, int]] = set()
        self._read_chunks: set[str] = set()
        self._final: set[str] = set()  # records read once and for all

    def _wanted(self, step: str, index: int) -> bool:
        return (self.step is None or step == self.step) and (
            self.index is None or index == self.index
        )

    def _emit(self, where: tuple[str, int, int], name: str, text: str, at: int) -> None:
        shown = self._shown.setdefault(where, {"stdout": 0, "stderr": 0})
        if at > shown[name]:  # a gap (should not happen): show what we have
            at = shown[name]
        new = text[shown[name] - at:]
        if new:
            shown[name] += len(new)
            self.write(*where, name, new)

    def poll(self) -> None:
        """Show what appeared since the last call: live text of running attempts, then
        the rest of each attempt that finished."""
        live = live_logs_prefix(self.run_id)
        for key in self.artifacts.datastore.list_records(live):
            if key in self._read_chunks or not key.endswith(".json"):
                continue
            parts = key[len(live) + 1:].split("/")
            if len(parts) != 4:
                continue
            step, index, attempt = parts[0], int(parts[1]), int(parts[2])
            where = (step, index, attempt)
            self._read_chunks.add(key)
            if where in self._done or not self._wanted(step, index):
                continue
            data = self.artifacts.get_json(key) or {}
            self._emit(where, "stdout", data.get("stdout", ""), int(data.get("out_at", 0)))
            self._emit(where, "stderr", data.get("stderr", ""), int(data.get("err_at", 0)))
        finished = []
        for prefix in (task_attempts_prefix(self.run_id), task_records_prefix(self.run_id)):
            for key in self.artifacts.datastore.list_records(prefix):
                if key in self._final:
                    continue
                data = self.artifacts.get_json(key)
                if not data:
                    continue
                if prefix != task_records_prefix(self.run_id) or data.get("status") == "succeeded":
                    self._final.add(key)  # never rewritten (a failed task may be retried)
                if self._wanted(data.get("step", ""), int(data.get("index", -1))):
                    finished.append(data)
        finished.sort(key=lambda d: (d.get("finished_at") or 0, int(d.get("attempt", 1))))
        for data in finished:
            where = (data["step"], int(data["index"]), int(data.get("attempt", 1)))
            if where in self._done or data.get("reused_from"):
                continue
            self._done.add(where)
            for name in STREAMS:
                key = data.get(f"{name}_key", "")
                if key:
                    text = self.artifacts.get_bytes(key, name=f"{self.run_id} {name}").decode(
                        errors="replace")
                    self._emit(where, name, text, 0)


class LinePrefixer:
    """A :data:`Writer` that writes whole lines to ``out`` (stdout) or ``err`` (stderr),
    each prefixed with ``STEP[INDEX]`` (and ``#ATTEMPT`` from the second attempt on), so
    the output of concurrent tasks stays readable. :meth:`close` writes unfinished lines."""

    def __init__(self, out: Any, err: Any) -> None:
        self.targets = {"stdout": out, "stderr": err}
        self._pending: dict[tuple[str, int, int, str], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def label(step: str, index: int, attempt: int) -> str:
        return f"{step}[{index}]" + (f"#{attempt}" if attempt > 1 else "")

    def __call__(self, step: str, index: int, attempt: int, name: str, text: str) -> None:
        with self._lock:
            key = (step, index, attempt, name)
            lines = (self._pending.pop(key, "") + text).split("\n")
            if lines[-1]:
                self._pending[key] = lines[-1]
            complete = lines[:-1]
            if complete:
                prefix = self.label(step, index, attempt) + " "
                target = self.targets[name]
                target.write("".join(f"{prefix}{line}\n" for line in complete))
                target.flush()

    def close(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (step, index, attempt, name), text in pending.items():
            self(step, index, attempt, name, text + "\n")


class EchoLogs:
    """``with EchoLogs(artifacts, run_id):`` streams a run's task output to this
    process's stdout and stderr, each line prefixed with ``STEP[INDEX]``, while the block
    runs (a thread polls every :data:`FLUSH_INTERVAL` seconds); on exit it shows the rest."""

    def __init__(self, artifacts: ArtifactStore, run_id: str, *, out: Any = None,
                 err: Any = None) -> None:
        import sys

        self.writer = LinePrefixer(out or sys.stdout, err or sys.stderr)
        self.follower = LogFollower(artifacts, run_id, self.writer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lamina-echo", daemon=True)
        self._poll_lock = threading.Lock()

    def _poll(self) -> None:
        with self._poll_lock:
            try:
                self.follower.poll()
            except Exception:  # echoing is best effort; the logs stay in the datastore
                pass

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self._poll()

    def __enter__(self) -> EchoLogs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        self.writer.close()

"""A live count of tasks done / running / failed while a run goes (rich), or nothing
when the output is not a terminal."""

from __future__ import annotations

import sys
from typing import Any


class NullProgress:
    """Says nothing: used off a terminal, in tests and when ``progress="off"``."""

    def start(self, run_id: str, flow: str) -> None: ...

    def add_total(self, n: int) -> None: ...

    def update(self, *, done: int, running: int, failed: int) -> None: ...

    def stop(self) -> None: ...


class RichProgress(NullProgress):
    """One progress bar on stderr: tasks done of those known so far."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: Any = None
        self._total = 0

    def start(self, run_id: str, flow: str) -> None:
        self._progress.start()
        from rich.markup import escape

        self._task = self._progress.add_task(escape(f"{flow} {run_id}"), total=0, running=0,
                                             failed=0)

    def add_total(self, n: int) -> None:
        self._total += n
        self._progress.update(self._task, total=self._total)

    def update(self, *, done: int, running: int, failed: int) -> None:
        self._progress.update(self._task, completed=done, running=running, failed=failed)

    def stop(self) -> None:
        self._progress.stop()


def make_progress(mode: str) -> NullProgress:
    """``auto``: a live bar only when stderr is a terminal."""
    if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
        return NullProgress()
    return RichProgress()

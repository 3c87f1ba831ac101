"""Reading runs back: from a notebook (:class:`Client`) and for the CLI."""

from lamina.client.client import Client, Run, StepResult, Task
from lamina.client.diff import RunDiff, diff_runs
from lamina.client.refs import LATEST, resolve_run, split_ref

__all__ = [
    "LATEST", "Client", "Run", "RunDiff", "StepResult", "Task", "diff_runs", "resolve_run",
    "split_ref",
]

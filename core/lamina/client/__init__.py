"""Reading runs back: from a notebook (:class:`Client`) and for the CLI."""

from lamina.client.client import Client, Run, StepResult, Task
from lamina.client.diff import RunDiff, diff_runs

__all__ = ["Client", "Run", "RunDiff", "StepResult", "Task", "diff_runs"]

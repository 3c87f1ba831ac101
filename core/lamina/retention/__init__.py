"""Retention: reclaim space from old runs without deleting what anything kept needs.

::

    from lamina.retention import collect, delete_run

    report = collect(stack, dry_run=True)    # what `lamina gc --dry-run` prints
    delete_run(stack, "20261127T0501577")     # `lamina runs --delete RUN`

The policy is the stack's ``retention`` table (:class:`lamina.config.retention.RetentionOptions`);
see docs/retention.md for the rules and the argument that gc is safe while flows run.
"""

from lamina.config.retention import RetentionOptions, parse_duration
from lamina.retention.delete import DeletedRun, RunKeptError, delete_run, why_kept
from lamina.retention.gc import GcReport, collect
from lamina.retention.policy import RunSummary, decide

__all__ = [
    "DeletedRun",
    "GcReport",
    "RetentionOptions",
    "RunKeptError",
    "RunSummary",
    "collect",
    "decide",
    "delete_run",
    "parse_duration",
    "why_kept",
]

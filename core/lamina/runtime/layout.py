"""Where a run's records live in the datastore, beside its artifacts.

Remote tasks see only the datastore, so everything a task needs to run (the run manifest,
the foreach plan of its step, its upstream tasks' outcomes) is a record here:

``runs/RUN/run.json``                 the manifest: flow, params, code snapshot, steps
``runs/RUN/steps/STEP.json``          a launched step: task count, foreach elements
``runs/RUN/tasks/STEP/INDEX.json``    a task's latest outcome
``runs/RUN/attempts/STEP/INDEX/N.json``  a failed attempt N of a task (its logs)
``runs/RUN/cards/STEP/INDEX.json``    a task's card (lamina.cards)
``runs/RUN/live/STEP/INDEX/N/C.json``  chunk C of what attempt N printed while running
``runs/RUN/notes/STEP/INDEX.json``    what the run noted about a task (a damaged result
                                      it did not reuse)
"""

from __future__ import annotations


def run_manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/run.json"


def step_plan_key(run_id: str, step: str) -> str:
    return f"runs/{run_id}/steps/{step}.json"


def task_record_key(run_id: str, step: str, index: int) -> str:
    return f"runs/{run_id}/tasks/{step}/{index}.json"


def task_records_prefix(run_id: str) -> str:
    return f"runs/{run_id}/tasks"


def task_card_key(run_id: str, step: str, index: int) -> str:
    """A task's card (``lamina.cards``), beside its outcome."""
    return f"runs/{run_id}/cards/{step}/{index}.json"


def task_attempt_key(run_id: str, step: str, index: int, attempt: int) -> str:
    """The outcome of a failed attempt of a task (its logs, once it was retried)."""
    return f"runs/{run_id}/attempts/{step}/{index}/{attempt}.json"


def task_attempts_prefix(run_id: str) -> str:
    return f"runs/{run_id}/attempts"


def live_logs_prefix(run_id: str) -> str:
    """Where the live output of a run's running tasks is (:mod:`lamina.runtime.livelogs`)."""
    return f"runs/{run_id}/live"


def live_log_chunk_key(run_id: str, step: str, index: int, attempt: int, chunk: int) -> str:
    """Chunk ``chunk`` (1, 2...) of what an attempt printed while it ran."""
    return f"{live_logs_prefix(run_id)}/{step}/{index}/{attempt}/{chunk:06d}.json"


def task_notes_key(run_id: str, step: str, index: int) -> str:
    """What the run noted about a task (``{"notes": [...]}``): a cached or resumed result
    found damaged and computed again."""
    return f"runs/{run_id}/notes/{step}/{index}.json"

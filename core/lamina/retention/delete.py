"""``lamina runs --delete RUN``: delete one run, unless something kept needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from lamina.errors import LaminaError
from lamina.retention.gc import delete_run_records, named_runs, require_collectable
from lamina.retention.policy import RunSummary, protected_reason

if TYPE_CHECKING:
    from lamina.stack import Stack


class RunKeptError(LaminaError):
    """``lamina runs --delete`` refused: something kept needs the run."""


@attrs.frozen
class DeletedRun:
    """What ``delete_run`` did: the run and how many datastore records went. Its objects
    stay until ``lamina gc`` finds that nothing kept points at them."""

    run_id: str
    flow: str
    records: int
    forced_past: str = ""


def why_kept(stack: Stack, run_id: str) -> str | None:
    """What keeps run ``run_id`` from an explicit deletion (one line), or None: running,
    a protected tag, production, a keeper (deployment, registered model, feature
    materialization, a plugin's ``lamina_retention_keep``), or another run that reused
    its results. Age and rank rules do not apply to an explicit deletion."""
    from lamina.retention.keepers import keep_reasons

    summary = RunSummary.of(stack.metadata.get_run(run_id))
    options = stack.retention
    if summary.status == "running":
        return "it is running"
    reason = protected_reason(summary, options)
    if reason is not None:
        return reason
    if run_id in named_runs(stack, [run_id]):
        reasons = keep_reasons(stack)
        for key, why in reasons.items():
            if run_id.startswith(key):
                return why
        return "a plugin's lamina_retention_keep names it"
    reusing = getattr(stack.metadata, "runs_reusing", None)
    users = list(reusing(run_id)) if reusing is not None else []
    if users:
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        return f"run {users[0]}{more} reused its results"
    return None


def delete_run(stack: Stack, run: str, *, force: bool = False) -> DeletedRun:
    """Delete one run (an id or a unique prefix): its records in the datastore, then in
    the metadata store. Refuses with :class:`RunKeptError` naming what keeps it (see
    :func:`why_kept`); ``force`` deletes it anyway, except a running run."""
    require_collectable(stack)
    record = stack.metadata.get_run(run)
    why = why_kept(stack, record.run_id)
    if why is not None and (not force or why == "it is running"):
        hint = ("wait for it to finish (or stop it), then delete it" if why == "it is running"
                else "remove what keeps it (`lamina tag RUN --remove TAG`, undeploy...), or "
                "pass --force to delete it anyway")
        raise RunKeptError(f"run {record.run_id} is kept: {why}", hint=hint)
    records = delete_run_records(stack, [record.run_id])
    return DeletedRun(run_id=record.run_id, flow=record.flow, records=records,
                      forced_past=why or "")

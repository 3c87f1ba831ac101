"""How a run is named, everywhere: one resolver for the Client, the CLI and ``resume``.

A run reference is one of:

* a run id, or a unique prefix of one (``20261127T0501577``);
* ``FLOW/latest``: the newest **successful** run of flow ``FLOW``;
* ``latest``: the newest run of any flow, whatever its status.

A step or a task adds ``/STEP`` or ``/STEP/INDEX`` to it (``churn/latest/train/0``).

``latest`` and ``FLOW/latest`` are looked up in the reader's namespace only; a run named
by id from another namespace is an :class:`lamina.errors.OtherNamespaceError` naming
both (see :mod:`lamina.client.scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.client import scope
from lamina.errors import LaminaError, RunNotFoundError

if TYPE_CHECKING:
    from lamina.interfaces.metadata import MetadataStore
    from lamina.records import RunRecord

__all__ = ["LATEST", "resolve_run", "split_ref"]

#: The word that stands for "the newest run" in a reference.
LATEST = "latest"


def split_ref(ref: str) -> tuple[str, str | None, int | str | None]:
    """``(run reference, step or None, task index or None)`` of ``RUN[/STEP[/INDEX]]``,
    where ``RUN`` may be ``FLOW/latest`` or ``latest``. A task of a nested foreach may
    also be named by its address ``I.J`` (element J of outer element I), returned as
    the text ``"I.J"``.

    :raises LaminaError: an empty reference, too many parts, or an index that is not a
        number.
    """
    parts = [p for p in ref.strip().split("/")]
    if not ref.strip() or any(not p for p in parts):
        raise LaminaError(
            f"{ref!r} is not a run reference",
            hint="RUN, RUN/STEP or RUN/STEP/INDEX; RUN is an id (or a unique prefix), "
            "FLOW/latest or latest",
        )
    if len(parts) >= 2 and parts[1] == LATEST:  # FLOW/latest[/STEP[/INDEX]]
        parts = [f"{parts[0]}/{LATEST}", *parts[2:]]
    if len(parts) > 3:
        raise LaminaError(
            f"{ref!r} has too many parts",
            hint=f"RUN/STEP/INDEX, e.g. {'/'.join(parts[:3])}",
        )
    run = parts[0]
    step = parts[1] if len(parts) > 1 else None
    index: int | str | None = None
    if len(parts) == 3:
        outer, dot, inner = parts[2].partition(".")
        if dot and _digits(outer) and _digits(inner):
            return run, step, parts[2]
        if not _digits(parts[2]):
            raise LaminaError(
                f"task index {parts[2]!r} in {ref!r} is not a number (0, 1, 2...)",
                hint=f"RUN/STEP/INDEX, e.g. {run}/{step}/0 (or I.J for a nested foreach)",
            )
        index = int(parts[2])
    return run, step, index


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _in(namespace: str | None) -> str:
    return "" if namespace is None else f" in namespace {namespace!r}"


def no_run_error(
    metadata: MetadataStore, flow: str, namespace: str | None, *, successful: bool = True,
) -> RunNotFoundError:
    """The error for a flow without a (successful) run in ``namespace``: its newest run
    there if any, else the namespaces where the flow has runs, else the flows that do."""
    what = "successful run" if successful else "run"
    ran = scope.list_runs(metadata, flow, namespace=namespace, limit=1)
    if ran and successful:
        hint = f"its newest run, {ran[0].run_id}, {ran[0].status}: name it by id"
    else:
        elsewhere = [] if namespace is None else sorted(
            {scope.run_namespace(r) for r in metadata.list_runs(flow, limit=50)}
        )
        if elsewhere:
            hint = (f"it has runs in {', '.join(elsewhere[:5])}: read there with "
                    f"Client(namespace={elsewhere[0]!r}) or --namespace {elsewhere[0]}")
        else:
            known = ", ".join(scope.list_flows(metadata, namespace=namespace)) or "none"
            hint = f"flows with runs: {known}"
    return RunNotFoundError(f"flow '{flow}' has no {what}{_in(namespace)}", hint=hint)


def resolve_run(
    metadata: MetadataStore, ref: str, *, namespace: str | None = None,
    by_id_anywhere: bool = False,
) -> RunRecord:
    """The run record that ``ref`` names: an id or a unique prefix of one,
    ``FLOW/latest`` (the newest successful run of the flow) or ``latest`` (the newest run
    of any flow).

    :param namespace: where ``latest`` and ``FLOW/latest`` are looked up, and where a run
        named by id must be (None: every namespace).
    :param by_id_anywhere: accept a run named by id from any namespace (what ``resume``
        does: naming a run by id is explicit).
    :raises RunNotFoundError: no such run (the message says what exists), no run yet, a
        flow with no successful run, or a flow name given where a run was expected.
    :raises lamina.errors.OtherNamespaceError: a run named by id is in another namespace.
    """
    ref = ref.strip()
    if ref == LATEST:
        runs = scope.list_runs(metadata, None, namespace=namespace, limit=1)
        if not runs:
            raise RunNotFoundError(f"there are no runs{_in(namespace)} yet",
                                   hint="lamina run FLOW.py")
        return runs[0]
    if ref.endswith(f"/{LATEST}") and ref.count("/") == 1:
        flow = ref[: -len(LATEST) - 1]
        runs = scope.list_runs(metadata, flow, namespace=namespace, status="succeeded", limit=1)
        if not runs:
            raise no_run_error(metadata, flow, namespace)
        return runs[0]
    if "/" in ref:
        run = split_ref(ref)[0]
        raise RunNotFoundError(
            f"{ref!r} names a step or a task, not a run",
            hint=f"name the run alone: {run}",
        )
    try:
        record = metadata.get_run(ref)
    except RunNotFoundError as err:
        if "/" not in ref and ref in metadata.list_flows():
            raise RunNotFoundError(
                f"'{ref}' is a flow, not a run",
                hint=f"its latest successful run: {ref}/{LATEST}",
            ) from err
        raise
    return scope.check_run_namespace(record, None if by_id_anywhere else namespace)

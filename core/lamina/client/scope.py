"""Which runs a reader sees: one namespace by default, every namespace when asked.

The Client and every CLI command read through these functions, so that ``latest_run``,
``runs``, ``flows`` and ``FLOW/latest`` never cross a namespace silently. A store written
before namespaces (no ``namespace=`` argument, no ``list_namespaces``) still works: its
runs are filtered here, in Python.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from lamina.errors import NamespaceNotFoundError, OtherNamespaceError
from lamina.kernel.suggest import did_you_mean
from lamina.namespaces import check_namespace, record_namespace, resolve_branch
from lamina.runtime.current import current

if TYPE_CHECKING:
    from lamina.interfaces.metadata import MetadataStore
    from lamina.records import RunRecord
    from lamina.stack import Stack

__all__ = [
    "check_run_namespace",
    "default_namespace",
    "list_flows",
    "list_namespaces",
    "list_runs",
    "require_namespace",
]

_TAKES_NAMESPACE: dict[tuple[type, str], bool] = {}


def _takes_namespace(store: Any, method: str) -> bool:
    key = (type(store), method)
    found = _TAKES_NAMESPACE.get(key)
    if found is None:
        try:
            params = inspect.signature(getattr(store, method)).parameters.values()
        except (TypeError, ValueError):
            params = []  # type: ignore[assignment]
        found = any(p.name == "namespace" or p.kind is p.VAR_KEYWORD for p in params)
        _TAKES_NAMESPACE[key] = found
    return found


def run_namespace(run: RunRecord) -> str:
    """The namespace ``run`` belongs to (its user's when it was recorded without one)."""
    return record_namespace(run.namespace, run.user)


def default_namespace(stack: Stack, project: str | None = None) -> str:
    """The namespace a reader sees when it names none.

    Inside a running task: the namespace of the run the task belongs to (a step reading
    another flow's latest result stays in its own namespace). Elsewhere, with
    ``project``: the current user's own branch of that project. Otherwise the stack's
    branch (``stack.branch.namespace``): ``user:NAME``, or the user's own branch of the
    config's project, or what ``--branch``/``--production`` chose."""
    inside = current.namespace
    if inside is not None:
        return inside
    if project:
        return resolve_branch(user=stack.branch.user, project=project).namespace
    return stack.branch.namespace


def list_runs(
    store: MetadataStore, flow: str | None = None, *, namespace: str | None,
    status: str | None = None, tag: str | None = None, limit: int | None = None,
) -> list[RunRecord]:
    """``store.list_runs`` in ``namespace`` (None: every namespace)."""
    if namespace is None:
        return store.list_runs(flow, status=status, tag=tag, limit=limit)
    if _takes_namespace(store, "list_runs"):
        return store.list_runs(flow, status=status, tag=tag, limit=limit, namespace=namespace)
    runs = [r for r in store.list_runs(flow, status=status, tag=tag)
            if run_namespace(r) == namespace]
    return runs if limit is None else runs[: max(0, int(limit))]


def list_flows(store: MetadataStore, *, namespace: str | None) -> list[str]:
    """``store.list_flows`` in ``namespace`` (None: every namespace)."""
    if namespace is None:
        return store.list_flows()
    if _takes_namespace(store, "list_flows"):
        return store.list_flows(namespace=namespace)
    return sorted({r.flow for r in list_runs(store, namespace=namespace)})


def list_namespaces(store: MetadataStore) -> list[str]:
    """The namespaces that have runs, sorted."""
    method = getattr(store, "list_namespaces", None)
    if method is not None:
        return list(method())
    return sorted({run_namespace(r) for r in store.list_runs(None)})


def require_namespace(store: MetadataStore, namespace: str) -> None:
    """Nothing if ``namespace`` has runs; else :class:`NamespaceNotFoundError` naming it,
    with the closest existing namespace and how to see every namespace. Called when a
    namespace the reader *chose* answered nothing."""
    check_namespace(namespace)
    if list_runs(store, namespace=namespace, limit=1):
        return
    known = list_namespaces(store)
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    raise NamespaceNotFoundError(
        f"namespace {namespace!r} has no runs{did_you_mean(namespace, known)}",
        hint=(f"namespaces with runs: {shown}; " if known else "there are no runs yet; ")
        + "every namespace: Client(namespace=None) or --all",
    )


def check_run_namespace(run: RunRecord, namespace: str | None) -> RunRecord:
    """``run`` if the reader's ``namespace`` is None or the run's own; else
    :class:`OtherNamespaceError` naming both namespaces and how to switch."""
    own = run_namespace(run)
    if namespace is None or own == namespace:
        return run
    raise OtherNamespaceError(
        f"run {run.run_id} of flow '{run.flow}' is in namespace {own!r}, not in "
        f"{namespace!r} (the one you read)",
        hint=f"read it with Client(namespace={own!r}) or --namespace {own} "
        "(or every namespace: Client(namespace=None), --all)",
    )

"""Whether a recorded result may be reused given what its task read from data sources.

The step cache and ``lamina resume`` reuse a task's result when its code, inputs and
parameters are unchanged. A step that reads a data source (``lamina.data.read``) has one
more input the cache key cannot see: the data. Before reusing such a result, each recorded
read is checked against its source (:meth:`DataSource.version_of`):

* a versioned read (a Delta version, an Iceberg snapshot, a file listing, a SQLite file)
  whose version is unchanged: the result is reused;
* a versioned read whose version changed (or that cannot be checked: the source is gone
  from the stack, or unreachable): the step is computed again;
* a read the source cannot version (a plain SQL query, ``version_kind = "none"``): the
  step is computed again, because lamina cannot prove the data is the same. The new
  result's content hash decides whether downstream steps are reused.

Each decision to recompute is written as a note on the task (``lamina show``) and logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError
from lamina.interfaces.data_source import DataInput

if TYPE_CHECKING:
    from lamina.stack import Stack


def _what(read: DataInput) -> str:
    if read.table:
        return f"table {read.table!r}"
    text = " ".join((read.query or "").split())
    return f"query {text[:60] + '...' if len(text) > 60 else text!r}"


def stale_inputs(stack: Stack, data_inputs: Iterable[Mapping[str, Any]], origin: str) -> list[str]:
    """Why the result of task ``origin`` must not be reused, one sentence per recorded
    read that changed or cannot be proven unchanged; empty when it may be reused."""
    reasons: list[str] = []
    checked: dict[tuple[str, str | None, str | None], str | None] = {}
    for raw in data_inputs:
        read = DataInput.from_dict(raw)
        label = f"data source {read.source!r} ({read.plugin}, {_what(read)})"
        if read.version_kind == "none" or not read.version:
            reasons.append(
                f"computed again: the result of {origin} read {label}, which has no version "
                "to compare (the source cannot tell whether the data changed)")
            continue
        key = (read.source, read.table, read.query)
        try:
            if key not in checked:
                checked[key] = stack.data_source(read.source).version_of(read)
            now = checked[key]
        except LaminaError as exc:
            reasons.append(f"computed again: the version of {label}, read by {origin}, cannot "
                           f"be checked ({exc.message})")
            continue
        except Exception as exc:
            reasons.append(f"computed again: the version of {label}, read by {origin}, cannot "
                           f"be checked ({type(exc).__name__}: {exc})")
            continue
        if now != read.version:
            reasons.append(f"computed again: {label} changed since {origin} read it "
                           f"({read.version_kind} version {read.version} -> {now})")
    return reasons

"""Where reference and current data come from: a run's artifact, a Parquet or Arrow file
(or folder), or a deployment's prediction log over a time window."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError

if TYPE_CHECKING:
    import pyarrow as pa

    from lamina.stack import Stack

#: Prefix of a source string naming a deployment's prediction log.
LOG_PREFIX = "log:"
_TABLE_SERIALIZERS = ("arrow.ipc", "pandas.arrow")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(text: str) -> dt.timedelta:
    """``30m``, ``12h``, ``1d``, ``2w`` as a timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not m:
        raise LaminaError(
            f"monitoring window {text!r} is not a number and a unit",
            hint="write it like 30m, 12h, 1d or 2w",
        )
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def resolve_window(start: str = "", end: str = "", window: str = "1d",
                   now: dt.datetime | None = None) -> tuple[str, str]:
    """(start, end) as ISO UTC strings: given ones kept, a missing end is now, a missing
    start is end minus ``window``."""
    def parse(text: str) -> dt.datetime:
        value = dt.datetime.fromisoformat(text)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    hi = parse(end) if end else (now or dt.datetime.now(dt.UTC))
    lo = parse(start) if start else hi - parse_window(window)
    return lo.isoformat(), hi.isoformat()


def to_table(value: Any, what: str) -> pa.Table:
    """An Arrow table from a table, a pandas DataFrame or a dict of columns."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if type(value).__name__ == "DataFrame" and hasattr(value, "to_dict"):
        return pa.Table.from_pandas(value, preserve_index=False)
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, dict):
        return pa.table(value)
    raise LaminaError(
        f"{what} is a {type(value).__name__}, not a table",
        hint="monitoring compares Arrow tables (or pandas DataFrames): point it at a step "
        "that returns one, or at a Parquet/Arrow file",
    )


def read_file(path: str) -> pa.Table:
    """A Parquet file or folder (a dataset), or an Arrow IPC / Feather file."""
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    if path.endswith((".arrow", ".feather", ".ipc")):
        return feather.read_table(path)
    return pq.read_table(path)


def read_prediction_log(stack: Stack, deployment: str, start: Any = None, end: Any = None) -> pa.Table:
    """The deployment's prediction log in ``[start, end)`` (the serving layer's reader)."""
    from lamina.serving.prediction_log import read_prediction_log as read

    return read(stack, deployment, start, end)


def read_outcomes(stack: Stack, deployment: str, start: Any = None, end: Any = None) -> pa.Table:
    """The outcomes logged for the deployment in ``[start, end)``."""
    from lamina.serving.prediction_log import read_outcomes as read

    return read(stack, deployment, start, end)


def artifact_table(stack: Stack, ref: str) -> pa.Table:
    """The table a run's step returned: ``RUN/STEP``, ``RUN/STEP/INDEX`` or
    ``FLOW/RUN/STEP`` (how the prediction log names a model)."""
    from lamina.client import Client

    client = Client(stack)
    parts = ref.split("/")
    if len(parts) == 3 and not parts[2].isdigit() and parts[1] != "latest":
        ref = "/".join(parts[1:])
    found = client.get(ref)
    value = getattr(found, "value", None) if not hasattr(found, "steps") else None
    if value is None:
        raise LaminaError(f"{ref!r} names a run, not a step's result",
                          hint="write RUN/STEP, e.g. 20261127-abcd/training_set")
    return to_table(value, f"artifact {ref}")


def training_set_of(stack: Stack, model_ref: str) -> tuple[pa.Table, str]:
    """The reference for a model: the largest table among the inputs of the step that
    produced it (its training set), with that input's reference."""
    from lamina.client import Client

    parts = model_ref.split("/")
    if len(parts) == 3 and not parts[2].isdigit():
        parts = parts[1:]
    run = Client(stack).run(parts[0])
    task = run[parts[1]].task if len(parts) > 1 else None
    if task is None:
        raise LaminaError(f"model reference {model_ref!r} names no step",
                          hint="the model is FLOW/RUN/STEP or RUN/STEP")
    best: tuple[int, str] | None = None
    for param in task.record.inputs:
        if param not in run.steps:
            continue
        try:
            up = run[param].task
            ref = up.ref
        except LaminaError:
            continue
        if ref.serializer in _TABLE_SERIALIZERS and (best is None or ref.size > best[0]):
            best = (ref.size, param)
    if best is None:
        raise LaminaError(
            f"the step that made model {model_ref!r} takes no table input, so its training "
            "set is unknown",
            hint="give the reference explicitly: --reference RUN/STEP or a Parquet file",
        )
    name = f"{run.id}/{best[1]}"
    return to_table(run[best[1]].task.value, name), name


def load_source(spec: str, stack: Stack, *, start: Any = None, end: Any = None) -> pa.Table:
    """A table from a source string: ``log:DEPLOYMENT`` (its prediction log in the window),
    a file or folder path (Parquet, or Arrow IPC / Feather), or ``RUN/STEP[/INDEX]``."""
    if spec.startswith(LOG_PREFIX):
        return read_prediction_log(stack, spec[len(LOG_PREFIX):], start, end)
    path = spec[7:] if spec.startswith("file://") else spec
    candidate = path if os.path.isabs(path) else os.path.join(str(stack.project_root), path)
    if os.path.exists(candidate):
        return read_file(candidate)
    if path.endswith((".parquet", ".arrow", ".feather", ".ipc")):
        raise LaminaError(f"data source {spec!r}: no such file ({candidate})",
                          hint="give a path relative to the project root, or an absolute one")
    return artifact_table(stack, spec)

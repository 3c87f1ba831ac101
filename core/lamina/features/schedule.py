"""Materialization as a flow: a generated flow file whose one step materializes feature
views incrementally, for any orchestrator to run on a schedule.

``lamina features materialize --incremental`` writes the file (``materialize_features.py``
by default) and runs it on the stack's orchestrator; ``lamina deploy`` hands the same file
to Airflow, Argo or Step Functions, whose scheduler then runs it. Each run is recorded like
any run: its parameters, and as the step's result the keys written per view. Every run
starts where the last materialization of each view ended, so runs on a schedule load only
the rows that arrived in between, and a run repeated or run late writes nothing twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

#: The flow's name, and the default file it is written to.
FLOW_NAME = "materialize-features"
DEFAULT_FILE = "materialize_features.py"

_TEMPLATE = '''"""Incremental materialization of feature views into the online store.

Written by `lamina features materialize --incremental`. Each run loads, per view, the rows
whose event time lies between the end of the last materialization and `end` (default: the
time the step runs). Run it with `lamina run {file}`, or deploy it to an orchestrator and
schedule it there (`lamina deploy {file}`).
"""

from lamina import Flow
from lamina.features.schedule import materialize_views

flow = Flow("{name}")


@flow.step
def materialize(views: str = {views!r}, end: str = "") -> dict:
    """Materialize `views` (comma-separated; empty: every view) up to `end` (ISO time;
    empty: now). Returns the keys written per view."""
    return materialize_views(views, end)
'''


def flow_source(views: list[str] | None = None, file: str = DEFAULT_FILE) -> str:
    """The text of the materialization flow file for ``views`` (None: every view)."""
    return _TEMPLATE.format(name=FLOW_NAME, views=",".join(views or ()), file=file)


def write_flow(path: str | Path, views: list[str] | None = None) -> Path:
    """Write the materialization flow file to ``path``; returns the path."""
    target = Path(path)
    target.write_text(flow_source(views, target.name))
    return target


def materialize_views(views: str = "", end: str = "") -> dict[str, int]:
    """What the flow's step does: materialize ``views`` (comma-separated names; empty for
    every view) incrementally up to ``end`` (an ISO time; empty for now), on the feature
    store of the stack the task runs on. Returns keys written per view."""
    from lamina.features.training import get_store

    names = [v.strip() for v in views.split(",") if v.strip()] or None
    until = end or dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    return get_store().materialize_incremental(until, names)  # type: ignore[no-any-return]

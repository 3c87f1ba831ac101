"""What each page shows, computed from the public :class:`lamina.Client`: plain values the
templates render (and the live-update endpoints return as JSON)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.client import Client, Run, Task
    from lamina.records import RunRecord, TaskRecord

#: Runs per page of the runs list, tasks per page of a step's task table.
RUNS_PAGE = 50
TASKS_PAGE = 100
#: Sort keys of the runs list (newest first is the metadata store's own order).
RUN_SORTS = ("newest", "oldest", "longest", "shortest", "flow")


def when(ts: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS`` ("-" if unknown)."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration, human sized ("-" if unknown)."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def parse_since(text: str) -> float | None:
    """``2h``, ``3d``, ``30m`` or an ISO date: the earliest start time to show."""
    text = text.strip()
    if not text:
        return None
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if text[-1] in units and text[:-1].isdigit():
        return dt.datetime.now().timestamp() - int(text[:-1]) * units[text[-1]]
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise LaminaError(
            f"'since' filter {text!r} is neither a duration nor a date",
            hint="use 30m, 2h, 3d, 1w or a date such as 2026-12-01",
        ) from None


@attrs.frozen
class RunFilter:
    """The runs page's filters, from its query string."""

    flow: str = ""
    status: str = ""
    tag: str = ""
    user: str = ""
    since: str = ""
    sort: str = "newest"
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> RunFilter:
        sort = query.get("sort", "newest")
        if sort not in RUN_SORTS:
            raise LaminaError(f"unknown sort {sort!r} for the runs list",
                              hint=f"one of: {', '.join(RUN_SORTS)}")
        try:
            page = max(1, int(query.get("page", "1") or 1))
        except ValueError:
            raise LaminaError(f"page {query.get('page')!r} is not a number",
                              hint="use ?page=2") from None
        return cls(flow=query.get("flow", "").strip(), status=query.get("status", "").strip(),
                   tag=query.get("tag", "").strip(), user=query.get("user", "").strip(),
                   since=query.get("since", "").strip(), sort=sort, page=page)

    def query(self, **changes: Any) -> str:
        """The query string of this filter with ``changes`` (for links)."""
        from urllib.parse import urlencode

        values = attrs.asdict(attrs.evolve(self, **changes))
        defaults = attrs.asdict(RunFilter())
        return urlencode({k: v for k, v in values.items() if v != defaults[k]})


def list_runs(client: Client, f: RunFilter) -> tuple[list[RunRecord], bool]:
    """One page of runs for the filter, and whether there is a next page. The store does
    the flow/status/tag filtering and the LIMIT; user, time and other sorts filter here."""
    metadata = client.stack.metadata
    store_side = not f.user and not f.since and f.sort == "newest"
    want = f.page * RUNS_PAGE + 1
    records = metadata.list_runs(f.flow or None, status=f.status or None, tag=f.tag or None,
                                 limit=want if store_side else None)
    if not store_side:
        since = parse_since(f.since) if f.since else None
        records = [r for r in records
                   if (not f.user or r.user == f.user)
                   and (since is None or r.started_at >= since)]
        now = dt.datetime.now().timestamp()

        def length(r: RunRecord) -> float:
            return (r.finished_at or now) - r.started_at

        if f.sort == "oldest":
            records.sort(key=lambda r: r.started_at)
        elif f.sort == "longest":
            records.sort(key=length, reverse=True)
        elif f.sort == "shortest":
            records.sort(key=length)
        elif f.sort == "flow":
            records.sort(key=lambda r: (r.flow, -r.started_at))
    start = (f.page - 1) * RUNS_PAGE
    page = records[start:start + RUNS_PAGE]
    return page, len(records) > start + RUNS_PAGE


@attrs.frozen
class StepView:
    """A step of a run: its status and task counts, where it sits in the DAG drawing."""

    name: str
    status: str  # succeeded | failed | running | pending | reused
    counts: dict[str, int]
    planned: int | None
    upstream: tuple[str, ...]
    started_at: float | None
    finished_at: float | None
    duration: float | None  # summed over its tasks
    x: int = 0
    y: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "counts": self.counts,
                "planned": self.planned, "label": step_label(self)}


def step_label(step: StepView) -> str:
    """``3/10 done, 1 failed`` style summary of a step's tasks."""
    done = sum(step.counts.get(s, 0) for s in ("succeeded", "reused", "caught"))
    total = step.planned if step.planned is not None else sum(step.counts.values())
    parts = [f"{done}/{total} done" if total else "not started"]
    if step.counts.get("failed"):
        parts.append(f"{step.counts['failed']} failed")
    if step.counts.get("caught"):
        parts.append(f"{step.counts['caught']} failed and caught")
    if step.counts.get("reused"):
        parts.append(f"{step.counts['reused']} reused")
    return ", ".join(parts)


def _step_status(run_status: str, counts: dict[str, int], planned: int | None) -> str:
    total = sum(counts.values())
    if counts.get("failed"):
        return "failed"
    done = "reused" if total and counts.get("reused") == total else "succeeded"
    if run_status != "running":
        return done if total else "skipped"
    if planned is None:
        return "pending"
    return done if total >= planned > 0 else "running"


#: DAG drawing: box size and gaps, in SVG units.
BOX_W, BOX_H, GAP_X, GAP_Y = 170, 52, 60, 24


def step_views(run: Run, tasks: Iterable[TaskRecord]) -> list[StepView]:
    """Each step's status, counts and DAG position, from the run's tasks and graph."""
    graph = run.graph()
    live = run.status == "running"
    planned = run.planned_tasks() if live or not graph else {}
    counts: dict[str, dict[str, int]] = {s: {} for s in run.steps}
    start: dict[str, float] = {}
    end: dict[str, float] = {}
    spent: dict[str, float] = {}
    for t in tasks:
        state = "reused" if t.status == "succeeded" and t.reused_from else t.status
        c = counts.setdefault(t.step, {})
        c[state] = c.get(state, 0) + 1
        if t.started_at is not None:
            start[t.step] = min(start.get(t.step, t.started_at), t.started_at)
        if t.finished_at is not None:
            end[t.step] = max(end.get(t.step, t.finished_at), t.finished_at)
        if t.started_at is not None and t.finished_at is not None and not t.reused_from:
            spent[t.step] = spent.get(t.step, 0.0) + t.finished_at - t.started_at
    # layers: a step sits one column right of its furthest upstream step
    layer: dict[str, int] = {}
    for name in run.steps:  # topological order
        layer[name] = 1 + max((layer.get(u, 0) for u in graph.get(name, [])), default=-1)
    rows: dict[int, int] = {}
    views = []
    for name in run.steps:
        ups: tuple[str, ...] = tuple(graph.get(name, []))
        st = _step_status(run.status, counts.get(name, {}), planned.get(name) if live else None)
        col = layer[name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        views.append(StepView(
            name=name, status=st, counts=counts.get(name, {}),
            planned=planned.get(name) if live else None, upstream=ups,
            started_at=start.get(name), finished_at=end.get(name), duration=spent.get(name),
            x=10 + col * (BOX_W + GAP_X), y=10 + row * (BOX_H + GAP_Y),
        ))
    return views


def dag_size(steps: list[StepView]) -> tuple[int, int]:
    """Width and height of the SVG that holds the DAG."""
    width = max((s.x for s in steps), default=0) + BOX_W + 20
    height = max((s.y for s in steps), default=0) + BOX_H + 20
    return width, height


def dag_edges(steps: list[StepView]) -> list[tuple[str, str, str]]:
    """Each edge as (upstream, step, SVG path)."""
    where = {s.name: s for s in steps}
    out = []
    for s in steps:
        for u in s.upstream:
            a = where[u]
            x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
            x2, y2 = s.x, s.y + BOX_H // 2
            mid = (x1 + x2) // 2
            out.append((u, s.name, f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 6},{y2}"))
    return out


def timeline(steps: list[StepView], width: int = 640) -> list[dict[str, Any]]:
    """Bars of a Gantt chart of the run's steps (first task start to last task end)."""
    spans = [s for s in steps if s.started_at is not None and s.finished_at is not None]
    if not spans:
        return []
    t0 = min(s.started_at for s in spans if s.started_at is not None)
    t1 = max(s.finished_at for s in spans if s.finished_at is not None)
    scale = width / max(t1 - t0, 1e-6)
    return [
        {"name": s.name, "status": s.status,
         "x": round(((s.started_at or t0) - t0) * scale, 1),
         "w": max(2.0, round(((s.finished_at or t0) - (s.started_at or t0)) * scale, 1)),
         "start": when(s.started_at), "span": seconds((s.finished_at or 0) - (s.started_at or 0))}
        for s in spans
    ]


def task_page(tasks: list[Task], page: int, status: str = "") -> tuple[list[Task], int]:
    """One page of a step's tasks (optionally of one status), and the number of pages."""
    if status:
        tasks = [t for t in tasks if t.status == status]
    pages = max(1, -(-len(tasks) // TASKS_PAGE))
    page = min(max(1, page), pages)
    return tasks[(page - 1) * TASKS_PAGE: page * TASKS_PAGE], pages


def metrics_chart(tasks: list[Task]) -> dict[str, Any] | None:
    """A Vega-Lite spec of the step's metrics by task index (None without metrics)."""
    values = [{"index": t.index, "metric": name, "value": v}
              for t in tasks for name, v in t.metrics.items()]
    if not values:
        return None
    single = len(tasks) == 1
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": values},
        "mark": {"type": "bar"} if single else {"type": "line", "point": True},
        "encoding": (
            {"x": {"field": "metric", "type": "nominal"},
             "y": {"field": "value", "type": "quantitative"}}
            if single else
            {"x": {"field": "index", "type": "quantitative", "title": "task"},
             "y": {"field": "value", "type": "quantitative"},
             "color": {"field": "metric", "type": "nominal"}}
        ),
        "width": 520, "height": 200,
    }


def task_timeline(tasks: list[Task], width: int = 640) -> list[dict[str, Any]]:
    """Bars of a Gantt chart of these tasks: who ran when (reused tasks did not run)."""
    spans = [t for t in tasks if t.record.started_at is not None
             and t.record.finished_at is not None and not t.record.reused_from]
    if not spans:
        return []
    t0 = min(t.record.started_at or 0.0 for t in spans)
    t1 = max(t.record.finished_at or 0.0 for t in spans)
    scale = width / max(t1 - t0, 1e-6)
    return [
        {"index": t.index, "status": t.status,
         "x": round(((t.record.started_at or t0) - t0) * scale, 1),
         "w": max(1.5, round(((t.record.finished_at or t0) - (t.record.started_at or t0))
                             * scale, 1)),
         "start": when(t.record.started_at), "span": seconds(t.duration)}
        for t in spans
    ]

"""A small scheduler for a laptop: ``lamina schedule run FLOW.py ...`` starts each flow on
its ``schedule``, after a successful run of a flow it is ``trigger_on_finish`` of (in the
same namespace), and when an event it has a ``trigger`` for arrives (``lamina trigger
--event NAME``, which leaves the event in the stack's datastore under ``events/``).

::

    from lamina.runtime.schedule import LocalScheduler

    scheduler = LocalScheduler([load_flow_file("report.py")], stack=stack)
    scheduler.tick()                 # what is due now; returns the runs it started
    scheduler.serve(interval=30)     # tick until Ctrl-C

Runs go through ``flow.run`` on the stack, one after the other. The clock is injectable
(``clock=``) so the behaviour is testable without waiting for minutes.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lamina.flow.triggers import cron_matches
from lamina.versioning.ids import new_run_id

if TYPE_CHECKING:
    from lamina.client import Run
    from lamina.flow.flow import Flow
    from lamina.stack import Stack

#: Where ``lamina trigger --event`` leaves events for the local scheduler (datastore keys).
EVENTS_PREFIX = "events/pending"
EVENTS_DONE = "events/handled"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def send_local_event(stack: Stack, name: str, payload: Mapping[str, Any] | None = None) -> str:
    """Leave the event ``name`` (with ``payload``) for ``lamina schedule run``; returns its
    key in the stack's datastore."""
    key = f"{EVENTS_PREFIX}/{new_run_id()}.json"
    stack.artifacts.put_json(key, {"name": name, "payload": dict(payload or {})})
    return key


class LocalScheduler:
    """Starts flows when their schedule, an upstream flow's success or an event says so.

    :param flows: the flows to watch (each with :attr:`lamina.Flow.triggers`).
    :param stack: the stack the runs go to (and whose metadata and events it reads).
    :param clock: returns the current time (timezone-aware); the tests inject one.
    """

    def __init__(self, flows: Iterable[Flow], stack: Stack,
                 *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.flows = {f.name: f for f in flows}
        self.stack = stack
        self.clock = clock
        self._fired: dict[str, str] = {}  # flow -> the minute its schedule last fired
        self._seen: set[str] = {r.run_id for r in self._succeeded(self._upstream())}

    # -- what is due -------------------------------------------------------------------------

    def _upstream(self) -> set[str]:
        return {u for f in self.flows.values() for u in f.triggers.on_finish}

    def _succeeded(self, flows: Iterable[str]) -> list[Any]:
        namespace = getattr(getattr(self.stack, "branch", None), "namespace", "")
        out = []
        for name in sorted(flows):
            for record in self.stack.metadata.list_runs(name, status="succeeded", limit=50):
                if not namespace or not record.namespace or record.namespace == namespace:
                    out.append(record)
        return out

    def _pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        store = self.stack.artifacts
        keys = sorted(k for k in store.list(EVENTS_PREFIX) if k.endswith(".json"))
        out = []
        for key in keys:
            done = f"{EVENTS_DONE}/{key.rsplit('/', 1)[-1]}"
            if not store.put_json(done, {"handled": self.clock().isoformat()}, exclusive=True):
                continue  # handled before (records are immutable: a marker, not a delete)
            event = store.get_json(key) or {}
            out.append((str(event.get("name", "")), dict(event.get("payload") or {})))
        return out

    def due(self) -> list[tuple[Flow, str, dict[str, Any]]]:
        """``(flow, reason, params)`` of every run due now (and marks them as handled)."""
        now = self.clock()
        minute = now.strftime("%Y-%m-%dT%H:%M")
        out: list[tuple[Flow, str, dict[str, Any]]] = []
        for flow in self.flows.values():
            cron = flow.triggers.schedule
            if cron and cron_matches(cron, now) and self._fired.get(flow.name) != minute:
                self._fired[flow.name] = minute
                out.append((flow, f"schedule {cron}", {}))
        for record in reversed(self._succeeded(self._upstream())):
            if record.run_id in self._seen:
                continue
            self._seen.add(record.run_id)
            for flow in self.flows.values():
                if record.flow in flow.triggers.on_finish:
                    out.append((flow, f"after {record.flow} run {record.run_id}", {}))
        events = self._pending_events()
        for name, payload in events:
            for flow in self.flows.values():
                for trigger in flow.triggers.events:
                    if trigger.name == name:
                        params = trigger.parameters(payload, _param_names(flow))
                        out.append((flow, f"event {name}", params))
        return out

    # -- running -----------------------------------------------------------------------------

    def tick(self) -> list[Run]:
        """Start every run due now, one after the other; returns them (failed ones too).
        A run that succeeds may make another flow due: that one starts at the next tick."""
        started = []
        for flow, reason, params in self.due():
            started.append(flow.run(stack=self.stack, raise_on_failure=False,
                                    tags=(f"trigger:{reason}"[:200],), **params))
        return started

    def serve(self, interval: float = 30.0, *, stop: threading.Event | None = None,
              on_run: Callable[[Run], None] | None = None) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set (or Ctrl-C)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            for run in self.tick():
                if on_run is not None:
                    on_run(run)
            stop.wait(interval)


def _param_names(flow: Flow) -> list[str]:
    from lamina.flow.graph import flow_parameters

    return list(flow_parameters(flow))


def describe(flows: Iterable[Flow]) -> str:
    """One line per flow: what starts it."""
    lines = []
    for flow in flows:
        t = flow.triggers
        parts = ([f"schedule {t.schedule}"] if t.schedule else []) + \
            [f"after {u}" for u in t.on_finish] + [f"event {e.name}" for e in t.events]
        lines.append(f"{flow.name}: {', '.join(parts) or 'nothing (no schedule or trigger)'}")
    return "\n".join(lines)

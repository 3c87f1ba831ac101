"""A flow's schedule and triggers as Airflow schedules and Assets.

- ``schedule="0 3 * * *"``: the DAG's cron schedule (it replaces the ``schedule`` option).
- ``trigger_on_finish="upstream"``: every lamina DAG's ``lamina_finish`` task has the
  outlet ``Asset("lamina://flow/NAME")`` (NAME qualified by project branch); it succeeds
  only when the run succeeded, so Airflow records an asset event exactly then, and a DAG
  scheduled on that asset starts.
- ``trigger="event"``: the DAG is also scheduled on ``Asset("lamina://event/NAME")``; an
  asset event's ``extra["payload"]`` sets the flow parameters (``lamina_start`` maps it).

A cron schedule together with assets becomes ``AssetOrTimeSchedule``: either starts a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FLOW_ASSET = "lamina://flow/{name}"
EVENT_ASSET = "lamina://event/{name}"


def flow_asset(qualified: str) -> str:
    """The URI of the asset a successful run of the flow ``qualified`` updates."""
    return FLOW_ASSET.format(name=qualified)


def event_asset(name: str) -> str:
    """The URI of the asset standing for the event ``name``."""
    return EVENT_ASSET.format(name=name)


def schedule_source(triggers: Any, default: str | None, qualify: Callable[[str], str]) -> str:
    """The Python source of the DAG's ``schedule=`` argument."""
    cron = triggers.schedule or default
    uris = [flow_asset(qualify(f)) for f in triggers.on_finish]
    uris += [event_asset(e.name) for e in triggers.events]
    if not uris:
        return repr(cron)
    assets = " | ".join(f"Asset({u!r})" for u in uris)
    if cron is None:
        return assets
    return (f"AssetOrTimeSchedule(timetable=CronTriggerTimetable({cron!r}, timezone='UTC'), "
            f"assets=({assets}))")


def event_mapping(triggers: Any, flow_params: list[str]) -> dict[str, dict[str, str]]:
    """Event asset URI -> {flow parameter: payload field}."""
    return {event_asset(e.name): dict(e.params) if e.params else {p: p for p in flow_params}
            for e in triggers.events}


IMPORTS = (
    "from airflow.sdk import Asset\n"
    "from airflow.timetables.assets import AssetOrTimeSchedule\n"
    "from airflow.timetables.trigger import CronTriggerTimetable\n"
)

#: Helper written into a DAG with event triggers: the parameters an asset event carries.
EVENT_HELPER = '''

def event_params(events) -> dict:
    """The flow parameters set by the payload of the asset events that triggered the run."""
    values = {}
    for uri, mapping in EVENTS.items():
        for event in (events or {}).get(uri, []) if hasattr(events, "get") else []:
            payload = (getattr(event, "extra", None) or {}).get("payload") or {}
            values.update({p: payload[f] for p, f in mapping.items() if f in payload})
    return values
'''

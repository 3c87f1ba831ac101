"""When a deployed flow starts by itself: a schedule, another flow's success, an event.

::

    flow = Flow("report", schedule="@daily", trigger_on_finish="churn",
                trigger=EventTrigger("data-ready", params={"path": "uri"}))

Every orchestrator maps these natively (Airflow schedules and Assets, an Argo
``CronWorkflow`` and an Argo Events ``Sensor``, EventBridge rules for Step Functions, the
local ``lamina schedule run``); this module holds only the values and the cron helpers
they share.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from lamina.errors import FlowDefinitionError

#: The ``@name`` shorthands, as five-field cron expressions.
CRON_ALIASES: Mapping[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

#: (lowest, highest) value of each of the five cron fields.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))
_PART = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")
_EVENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _field_values(text: str, low: int, high: int, what: str, cron: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if not match:
            raise FlowDefinitionError(
                f"schedule {cron!r}: the {what} field {text!r} is not cron syntax",
                hint="use numbers, ranges (1-5), lists (1,3), steps (*/15) or '*' "
                "(names such as MON are not accepted)",
            )
        span, _, step_text = match.group(1), match.group(2), match.group(3)
        step = int(step_text[1:]) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(x) for x in span.split("-"))
        else:
            first = last = int(span)
            if step_text:
                last = high
        if not (low <= first <= last <= high) or step < 1:
            raise FlowDefinitionError(
                f"schedule {cron!r}: the {what} field {text!r} is out of range",
                hint=f"the {what} goes from {low} to {high}",
            )
        values.update(range(first, last + 1, step))
    if what == "day of week" and 7 in values:
        values = (values - {7}) | {0}  # 7 and 0 are both Sunday
    return frozenset(values)


def normalize_cron(schedule: str) -> str:
    """The five-field cron expression of ``schedule`` (a cron expression or an ``@daily``
    style alias); :class:`~lamina.errors.FlowDefinitionError` naming the bad field."""
    text = " ".join(str(schedule).split())
    if text.startswith("@"):
        if text not in CRON_ALIASES:
            raise FlowDefinitionError(
                f"schedule {schedule!r} is not a known alias",
                hint=f"use one of {', '.join(CRON_ALIASES)} or a five-field cron expression",
            )
        return CRON_ALIASES[text]
    fields = text.split(" ")
    if len(fields) != 5:
        raise FlowDefinitionError(
            f"schedule {schedule!r} has {len(fields)} field(s), a cron expression has five",
            hint='minute hour day-of-month month day-of-week, e.g. "0 3 * * *" (03:00 daily)',
        )
    for field_text, (what, low, high) in zip(fields, _FIELDS, strict=True):
        _field_values(field_text, low, high, what, text)
    return text


def cron_matches(schedule: str, when: dt.datetime) -> bool:
    """Whether the minute ``when`` falls on is one ``schedule`` fires at (standard cron:
    when both day fields are restricted, either may match)."""
    fields = normalize_cron(schedule).split(" ")
    sets = [_field_values(f, lo, hi, what, schedule) for f, (what, lo, hi) in zip(fields, _FIELDS, strict=True)]
    minute, hour, dom, month, dow = sets
    weekday = (when.weekday() + 1) % 7  # cron: Sunday is 0
    day_ok = when.day in dom and weekday in dow
    if fields[2] != "*" and fields[4] != "*":
        day_ok = when.day in dom or weekday in dow
    return when.minute in minute and when.hour in hour and when.month in month and day_ok


@attrs.frozen
class EventTrigger:
    """Start the flow when an event named ``name`` arrives; its payload sets parameters.

    :param name: the event's name (letters, digits, ``_ . : -``).
    :param params: flow parameter -> payload field. Empty: every payload field that
        names a flow parameter sets it.
    """

    name: str
    params: Mapping[str, str] = attrs.field(factory=dict, converter=lambda m: dict(m or {}))

    def __attrs_post_init__(self) -> None:
        if not _EVENT.match(self.name):
            raise FlowDefinitionError(
                f"event name {self.name!r} is not valid",
                hint="use letters, digits, '_', '.', ':' and '-' (at most 128 characters)",
            )

    def parameters(self, payload: Mapping[str, Any], flow_params: Iterable[str]) -> dict[str, Any]:
        """The flow parameters an event with ``payload`` sets."""
        known = set(flow_params)
        if self.params:
            return {p: payload[f] for p, f in self.params.items() if f in payload}
        return {k: v for k, v in payload.items() if k in known}


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _events(value: str | EventTrigger | Iterable[str | EventTrigger] | None) -> tuple[EventTrigger, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, EventTrigger)) else list(value)
    return tuple(v if isinstance(v, EventTrigger) else EventTrigger(str(v)) for v in items)


@attrs.frozen
class Triggers:
    """When a deployed flow starts without being asked: ``Flow.triggers``.

    :param schedule: a five-field cron expression (aliases normalized), or None.
    :param on_finish: flows whose successful run (in the same project branch) starts
        this one.
    :param events: named events whose arrival starts this one.
    """

    schedule: str | None = None
    on_finish: tuple[str, ...] = ()
    events: tuple[EventTrigger, ...] = ()

    @classmethod
    def build(cls, flow: str, *, schedule: str | None = None,
              trigger_on_finish: str | Iterable[str] | None = None,
              trigger: str | EventTrigger | Iterable[str | EventTrigger] | None = None) -> Triggers:
        """Validate the ``Flow(...)`` arguments; errors name the flow."""
        try:
            cron = normalize_cron(schedule) if schedule is not None else None
            events = _events(trigger)
        except FlowDefinitionError as err:
            raise FlowDefinitionError(f"flow '{flow}': {err.message}", hint=err.hint) from None
        upstream = _names(trigger_on_finish)
        if flow in upstream:
            raise FlowDefinitionError(
                f"flow '{flow}' has trigger_on_finish={flow!r}: it would start itself forever",
                hint="name another flow, or use schedule= to run it periodically",
            )
        return cls(schedule=cron, on_finish=upstream, events=events)

    def __bool__(self) -> bool:
        return bool(self.schedule or self.on_finish or self.events)


def eventbridge_cron(schedule: str) -> str:
    """``schedule`` as an Amazon EventBridge ``cron(...)`` expression (six fields, ``?``
    for the unused day field, days of week 1-7 from Sunday)."""
    minute, hour, dom, month, dow = normalize_cron(schedule).split(" ")
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
        dow = re.sub(r"\d+", lambda m: str(int(m.group()) % 7 + 1), dow)
    else:
        raise FlowDefinitionError(
            f"schedule {schedule!r} restricts both the day of month and the day of week, "
            "which EventBridge cannot express",
            hint="restrict only one of the two day fields",
        )
    return f"cron({minute} {hour} {dom} {month} {dow} *)"

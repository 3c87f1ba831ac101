"""The flow's schedule and triggers as Amazon EventBridge rules targeting the state
machine. Plain dicts; nothing here calls AWS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lamina.sdk import eventbridge_cron
from lamina_orch_sfn.asl import batch_name

#: The ``source`` and ``detail-type`` of the events ``lamina trigger --event`` sends.
EVENT_SOURCE = "lamina"
EVENT_DETAIL_TYPE = "lamina-event"


def rule_name(machine: str, suffix: str) -> str:
    """An EventBridge rule name (at most 64 characters) for ``machine``."""
    return batch_name(f"{machine[: 63 - len(suffix) - 1]}-{suffix}", 64)


def rules(plan: Any, machine: str, upstream_arns: Mapping[str, str]) -> list[dict[str, Any]]:
    """``put_rule`` requests, each with the ``target`` input it needs (``Input`` or an
    ``InputTransformer``): one for the schedule, one per upstream flow, one per event."""
    triggers = plan.flow.triggers
    out: list[dict[str, Any]] = []
    if triggers.schedule:
        out.append({
            "Name": rule_name(machine, "schedule"),
            "ScheduleExpression": eventbridge_cron(triggers.schedule),
            "Description": f"lamina: {plan.flow.name} on its schedule {triggers.schedule}",
            "target": {"Input": json.dumps({"params": {}})},
        })
    for flow in triggers.on_finish:
        out.append({
            "Name": rule_name(machine, f"after-{batch_name(flow, 30)}"),
            "EventPattern": json.dumps({
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [upstream_arns[flow]]},
            }),
            "Description": f"lamina: {plan.flow.name} after each successful run of {flow}",
            "target": {"Input": json.dumps({"params": {}})},
        })
    for event in triggers.events:
        out.append({
            "Name": rule_name(machine, f"on-{batch_name(event.name, 30)}"),
            "EventPattern": json.dumps({
                "source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE],
                "detail": {"name": [event.name]},
            }),
            "Description": f"lamina: {plan.flow.name} on the event {event.name}",
            "target": {"InputTransformer": {
                "InputPathsMap": {"name": "$.detail.name", "payload": "$.detail.payload"},
                "InputTemplate": '{"event": {"name": "<name>", "payload": <payload>}}',
            }},
        })
    return out

"""``python -m lamina_orch_sfn.relay start|indexes --table T --key K -- COMMAND...``: run a
lamina command inside an AWS Batch job and leave its result where the state machine reads
it (one DynamoDB item, ``key`` -> ``value``), since a Batch job cannot return a value to
Step Functions.

``start`` first turns the execution's input into ``--params``: ``{"params": {...}}`` as
given by ``lamina trigger`` or a schedule, or ``{"event": {"name": N, "payload": {...}}}``
from an EventBridge rule, mapped with the flow's ``EventTrigger`` (``--events``); then it
stores the run id (the command's last output line). ``indexes`` stores the task indexes of
a step (its command prints the task count last) as a JSON list.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def params_from_input(raw: str, events: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The flow parameters an execution's input sets."""
    data = json.loads(raw or "{}")
    if not isinstance(data, dict):
        raise ValueError(f"the execution input is not a JSON object: {raw[:200]}")
    if "event" in data:
        from lamina.sdk import EventTrigger

        event = data["event"] or {}
        name = event.get("name", "")
        if name not in events:
            raise ValueError(f"event {name!r} does not trigger this flow ({', '.join(events) or 'none'})")
        payload = event.get("payload") or {}
        mapping = dict(events[name])  # param -> payload field, resolved at deploy time
        return EventTrigger(name, params=mapping).parameters(payload, mapping)
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("the execution input's 'params' is not a JSON object")
    return params


def _run(command: Sequence[str]) -> str:
    done = subprocess.run(list(command), capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    lines = done.stdout.strip().splitlines()
    return lines[-1].strip() if lines else ""


def _put(table: str, key: str, value: str) -> None:
    import boto3

    boto3.client("dynamodb").put_item(
        TableName=table, Item={"key": {"S": key}, "value": {"S": value}}
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lamina_orch_sfn.relay")
    parser.add_argument("action", choices=("start", "indexes"))
    parser.add_argument("--table", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--input", default="{}", help="the execution input (start)")
    parser.add_argument("--events", default="{}", help="event -> {param: field} (start)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        parser.error("give the command after '--'")
    cut = argv.index("--")
    args = parser.parse_args(argv[:cut])
    command = argv[cut + 1:]
    if args.action == "start":
        params = params_from_input(args.input, json.loads(args.events))
        value = _run([*command, "--params", json.dumps(params)])
    else:
        value = json.dumps(list(range(int(_run(command)))))
    _put(args.table, args.key, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())

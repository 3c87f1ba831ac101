"""Cache keys: a task is identified by its step's code, its inputs' content hashes, its
foreach elements and the parameters it takes. Equal keys mean an equal result, so the
result can be reused (``lamina resume``, ``cache=True``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from lamina.records import ArtifactRef, ref_keys


def _keys(value: ArtifactRef | list[Any]) -> Any:
    return ref_keys(value)


def cache_key(
    *,
    flow: str,
    step: str,
    code_hash: str,
    inputs: Mapping[str, ArtifactRef | list[ArtifactRef]],
    elements: Mapping[str, ArtifactRef],
    params: Mapping[str, Any],
) -> str:
    """The SHA-256 of everything that determines a task's result."""
    payload = {
        "flow": flow,
        "step": step,
        "code": code_hash,
        "inputs": {k: _keys(v) for k, v in sorted(inputs.items())},
        "elements": {k: v.key for k, v in sorted(elements.items())},
        "params": {k: params[k] for k in sorted(params)},
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def step_cache_keys(
    *,
    flow: str,
    step: str,
    code_hash: str,
    inputs: Mapping[str, ArtifactRef | list[ArtifactRef]],
    params: Mapping[str, Any],
) -> Callable[[Mapping[str, ArtifactRef]], str]:
    """:func:`cache_key` for the many tasks of one step, given their foreach elements.

    Returns exactly the keys :func:`cache_key` does, but encodes the part the tasks share
    (code, inputs, parameters) once per step instead of once per task: a 20,000-task
    foreach would otherwise re-encode a join's list of inputs 20,000 times.
    """
    rest = json.dumps(
        {
            "flow": flow,
            "inputs": {k: _keys(v) for k, v in sorted(inputs.items())},
            "params": {k: params[k] for k in sorted(params)},
            "step": step,
        },
        sort_keys=True,
        default=repr,
    )
    head = '{"code": ' + json.dumps(code_hash) + ', "elements": '
    tail = ", " + rest[1:]

    def key(elements: Mapping[str, ArtifactRef]) -> str:
        if elements:
            inner = ", ".join(
                f"{json.dumps(name)}: {json.dumps(ref.key)}" for name, ref in sorted(elements.items())
            )
            text = f"{head}{{{inner}}}{tail}"
        else:
            text = f"{head}{{}}{tail}"
        return hashlib.sha256(text.encode()).hexdigest()

    return key

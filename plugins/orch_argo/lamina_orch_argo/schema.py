"""Every manifest is checked against Argo's published JSON schema before it leaves.

The schemas (``schemas/``, see its NOTICE) come from the argo-workflows and argo-events
repositories. They are generated from the Go types and let unknown fields through, as a
Kubernetes API server in non-strict mode would; lamina validates strictly (an unknown
field is an error, like ``kubectl apply --validate=strict``), so a misspelt key is caught
here and not silently dropped by the cluster.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from lamina.sdk import LaminaError

_SCHEMAS = {"WorkflowTemplate": "argo-workflows", "CronWorkflow": "argo-workflows",
            "Workflow": "argo-workflows", "Sensor": "argo-events"}
_DEFINITION = {"WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
               "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
               "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
               "Sensor": "io.argoproj.events.v1alpha1.Sensor"}


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def _schema(family: str) -> dict[str, Any]:
    text = resources.files("lamina_orch_argo").joinpath(f"schemas/{family}.schema.json").read_text()
    return _strict(json.loads(text))


@functools.cache
def _validator(kind: str) -> Any:
    import jsonschema

    schema = copy.copy(_schema(_SCHEMAS[kind]))
    schema.pop("oneOf", None)
    schema.pop("$schema", None)  # "http://json-schema.org/schema#": no draft named
    schema["$ref"] = f"#/definitions/{_DEFINITION[kind]}"
    return jsonschema.Draft7Validator(schema)


def problems(manifest: dict[str, Any]) -> list[str]:
    """What Argo's schema says is wrong with ``manifest`` (empty: valid), each as
    ``path: message``."""
    kind = manifest.get("kind")
    if kind not in _DEFINITION:
        return [f"kind: {kind!r} is not one lamina generates ({', '.join(_DEFINITION)})"]
    found = []
    for err in sorted(_validator(kind).iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        found.append(f"{where}: {err.message}")
    return found


def check(manifest: dict[str, Any]) -> None:
    """Raise :class:`LaminaError` naming the manifest and the first problems, if any."""
    found = problems(manifest)
    if found:
        name = manifest.get("metadata", {}).get("name", "?")
        shown = "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else "")
        raise LaminaError(
            f"the generated Argo {manifest.get('kind')} {name!r} does not match Argo's schema: "
            f"{shown}",
            hint="this is a bug in lamina-orch-argo; please report it with the flow",
        )

"""Validate generated resources against the vendored Seldon CRD schemas (jsonschema).

Validation is strict by default, like ``kubectl apply --validate=strict``: a field the CRD
does not define is an error (a typo in a generated resource must not be pruned silently).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from importlib import resources
from typing import Any

#: (apiVersion, kind) -> vendored schema file.
SCHEMAS: dict[tuple[str, str], str] = {
    ("mlops.seldon.io/v1alpha1", "Model"): "mlops.seldon.io_v1alpha1_model.json",
    ("mlops.seldon.io/v1alpha1", "Experiment"): "mlops.seldon.io_v1alpha1_experiment.json",
    ("machinelearning.seldon.io/v1", "SeldonDeployment"):
        "machinelearning.seldon.io_v1_seldondeployment.json",
}
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_schema(api_version: str, kind: str, strict: bool = True) -> dict[str, Any]:
    """The vendored ``openAPIV3Schema`` of a Seldon kind."""
    name = SCHEMAS.get((api_version, kind))
    if name is None:
        known = ", ".join(f"{a} {k}" for a, k in SCHEMAS)
        raise KeyError(f"no vendored CRD schema for {api_version} {kind} (have: {known})")
    data = json.loads(resources.files("lamina_serving_seldon.crds").joinpath(name).read_text())
    schema = copy.deepcopy(data["openAPIV3Schema"])
    return _strict(schema) if strict else schema


def _format_checker() -> Any:
    import jsonschema

    checker = jsonschema.FormatChecker()

    @checker.checks("int32")
    def _int32(value: Any) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")
    def _int64(value: Any) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    return checker


def validate_resource(resource: dict[str, Any], *, strict: bool = True) -> list[str]:
    """Problems of one resource against its CRD schema (empty when valid). Also checks what
    the API server checks for every kind: metadata.name is a DNS-1123 name."""
    import jsonschema

    problems = []
    name = (resource.get("metadata") or {}).get("name", "")
    if not isinstance(name, str) or not _DNS1123.match(name) or len(name) > 253:
        problems.append(f"metadata.name {name!r} is not a DNS-1123 name")
    schema = crd_schema(resource.get("apiVersion", ""), resource.get("kind", ""), strict)
    validator = jsonschema.Draft7Validator(schema, format_checker=_format_checker())
    for err in sorted(validator.iter_errors(resource), key=lambda e: list(e.path)):
        path = ".".join(str(p) for p in err.path) or "(root)"
        problems.append(f"{resource.get('kind')} {name}: {path}: {err.message}")
    return problems

"""Seldon resources for a lamina deployment.

- Core v2: one ``Model`` per variant (MLServer loads it with the lamina runtime from the
  ``model-settings.json`` at its ``storageUri``), and, for a split or a mirror, an
  ``Experiment`` with the variants as weighted candidates (the first is the default) and the
  mirror at 100 percent.
- Core v1: one ``SeldonDeployment`` with a predictor per variant (``traffic`` = weight) and
  a ``shadow`` predictor for the mirror, each running MLServer with the lamina runtime.
"""

from __future__ import annotations

import json
from typing import Any

RUNTIME = "lamina_serving_seldon.runtime.LaminaRuntime"


def integer_weights(weights: list[float]) -> list[int]:
    """Percentages as integers summing to 100 (largest remainders), as Seldon wants."""
    floors = [int(w) for w in weights]
    rest = 100 - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: weights[i] - floors[i], reverse=True)
    for i in order[:rest]:
        floors[i] += 1
    return floors


def model_settings(name: str, datastore_url: str, artifact: dict[str, Any], ref: str) -> dict[str, Any]:
    """MLServer's ``model-settings.json`` for one variant."""
    return {
        "name": name,
        "implementation": RUNTIME,
        "parameters": {"uri": datastore_url, "extra": {"artifact": artifact, "model": ref}},
    }


def v2_resources(
    deployment: Any, models: dict[str, Any], *, namespace: str, storage_uris: dict[str, str],
    server: str = "", requirements: tuple[str, ...] = ("lamina",),
) -> list[dict[str, Any]]:
    """Model (and Experiment) resources; ``models`` maps variant name -> resolved ref."""
    labels = {"app.kubernetes.io/managed-by": "lamina", "lamina.dev/deployment": deployment.name}
    out = []
    variants = list(deployment.variants) + ([deployment.mirror] if deployment.mirror else [])
    for v in variants:
        spec: dict[str, Any] = {"storageUri": storage_uris[v.name],
                                "requirements": list(requirements)}
        if server:
            spec["server"] = server
        out.append({
            "apiVersion": "mlops.seldon.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": f"{deployment.name}-{v.name}", "namespace": namespace,
                         "labels": {**labels, "lamina.dev/variant": v.name},
                         "annotations": {"lamina.dev/model": models[v.name]}},
            "spec": spec,
        })
    if len(deployment.variants) > 1 or deployment.mirror:
        weights = integer_weights([v.weight for v in deployment.variants])
        spec = {
            "default": f"{deployment.name}-{deployment.variants[0].name}",
            "resourceType": "model",
            "candidates": [{"name": f"{deployment.name}-{v.name}", "weight": w}
                           for v, w in zip(deployment.variants, weights, strict=True)],
        }
        if deployment.mirror:
            spec["mirror"] = {"name": f"{deployment.name}-{deployment.mirror.name}", "percent": 100}
        out.append({
            "apiVersion": "mlops.seldon.io/v1alpha1",
            "kind": "Experiment",
            "metadata": {"name": deployment.name, "namespace": namespace, "labels": labels},
            "spec": spec,
        })
    return out


def v1_resource(
    deployment: Any, settings: dict[str, dict[str, Any]], *, namespace: str, image: str,
) -> dict[str, Any]:
    """One SeldonDeployment; ``settings`` maps variant name -> its model settings."""
    weights = integer_weights([v.weight for v in deployment.variants])

    def predictor(v: Any, traffic: int | None, shadow: bool) -> dict[str, Any]:
        s = settings[v.name]
        env = [
            {"name": "MLSERVER_MODEL_NAME", "value": "model"},
            {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": RUNTIME},
            {"name": "MLSERVER_MODEL_URI", "value": s["parameters"]["uri"]},
            {"name": "MLSERVER_MODEL_EXTRA", "value": json.dumps(s["parameters"]["extra"])},
            {"name": "MLSERVER_PARALLEL_WORKERS", "value": "0"},
        ]
        p: dict[str, Any] = {
            "name": v.name,
            "replicas": 1,
            "annotations": {"lamina.dev/model": s["parameters"]["extra"]["model"]},
            "componentSpecs": [{"spec": {"containers": [{"name": "model", "image": image,
                                                         "env": env}]}}],
            "graph": {"name": "model", "type": "MODEL", "children": []},
        }
        if shadow:
            p["shadow"] = True
        else:
            p["traffic"] = traffic
        return p

    predictors = [predictor(v, w, False) for v, w in zip(deployment.variants, weights, strict=True)]
    if deployment.mirror:
        predictors.append(predictor(deployment.mirror, None, True))
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": deployment.name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "lamina"}},
        "spec": {"protocol": "v2", "predictors": predictors},
    }

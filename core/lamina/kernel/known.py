"""Plugins that lamina's project ships as separate distributions.

Only used to turn "component not installed" into the exact ``pip install`` line, the way
fsspec's ``known_implementations`` does; the core never imports any of them.
"""

from __future__ import annotations

#: (layer, component name) -> the distribution that provides it.
KNOWN_COMPONENTS: dict[tuple[str, str], str] = {
    ("datastore", "s3"): "lamina-datastore-s3",
    ("compute", "k8s"): "lamina-compute-k8s",
    ("compute", "batch"): "lamina-compute-batch",
    ("compute", "dask"): "lamina-compute-dask",
    ("orchestrator", "airflow"): "lamina-orch-airflow",
    ("serving", "seldon"): "lamina-serving-seldon",
    ("metadata", "postgres"): "lamina-metadata-postgres",
}

#: URL scheme -> the datastore distribution that serves it.
KNOWN_SCHEMES: dict[str, str] = {
    "s3": "lamina-datastore-s3",
    "s3a": "lamina-datastore-s3",
}


def distribution_for(layer: str, name: str) -> str | None:
    return KNOWN_COMPONENTS.get((layer, name))


def distribution_for_scheme(scheme: str) -> str | None:
    return KNOWN_SCHEMES.get(scheme)

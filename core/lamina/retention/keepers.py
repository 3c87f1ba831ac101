"""The builtin keepers: the runs that something outside the run records needs.

Each one answers ``{run id (or unique prefix): why}``; the builtin plugin (:mod:`lamina.builtin.plugin`)
offers their union through ``lamina_retention_keep``, and ``lamina runs --delete`` uses
the reasons to say what keeps a run. They are:

- **registered model versions**: the metadata store's ``model_versions`` table
  (``referenced_run_ids``);
- **serving deployments**: every model (``FLOW/RUN/STEP``) of every live deployment of the
  stack's serving backend, ``FLOW/latest/STEP`` meaning the flow's newest successful run;
- **flow deployments** (``deployments/FLOW/ID.json`` in the datastore): the newest
  successful run of the deployed code on the deployment's branch;
- **feature materializations**: the newest successful run of the materialization flow
  in each namespace, which records where the next incremental materialization starts.

The step cache is not a keeper here: gc keeps the run whose result a kept task reused
while it marks (the ``reused_from`` of the kept runs' task records).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.stack import Stack

log = logging.getLogger(__name__)


def keep_reasons(stack: Stack) -> dict[str, str]:
    """Run id (or unique prefix) -> what needs it, from every builtin keeper."""
    reasons: dict[str, str] = {}
    for keeper in (model_versions, serving_deployments, flow_deployments, materializations):
        for run_id, why in keeper(stack).items():
            reasons.setdefault(run_id, why)
    return reasons


def model_versions(stack: Stack) -> dict[str, str]:
    """The runs registered model versions point at."""
    method = getattr(stack.metadata, "referenced_run_ids", None)
    if method is None:
        return {}
    return {run_id: "a registered model version" for run_id in method()}


def _model_refs(value: Any) -> Iterator[str]:
    """Every ``model`` string inside a deployment's JSON (variants and mirror)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "model" and isinstance(item, str):
                yield item
            else:
                yield from _model_refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _model_refs(item)


def serving_deployments(stack: Stack) -> dict[str, str]:
    """The runs whose models live serving deployments answer with."""
    from lamina.errors import LaminaError
    from lamina.serving.deployment import serving_backend

    try:
        deployments = serving_backend(stack).list_deployments()
    except (LaminaError, OSError) as error:
        log.warning("retention: cannot list serving deployments (%s); none kept for them", error)
        return {}
    found: dict[str, str] = {}
    for state in deployments:
        name = state.get("name", "?") if isinstance(state, Mapping) else "?"
        for ref in _model_refs(state):
            parts = ref.split("/")
            if len(parts) < 2:
                continue
            flow, run = parts[0], parts[1]
            if run == "latest":
                newest = stack.metadata.list_runs(flow, status="succeeded", limit=1)
                if not newest:
                    continue
                run = newest[0].run_id
            found.setdefault(run, f"the model of serving deployment {name!r} ({ref})")
    return found


def flow_deployments(stack: Stack) -> dict[str, str]:
    """For each flow deployment recorded in the datastore, the newest successful run of
    its code on its branch (what a rollback or ``resume`` of it starts from)."""
    from lamina.deploy import DEPLOYMENTS_PREFIX

    found: dict[str, str] = {}
    for key in stack.datastore.list_records(DEPLOYMENTS_PREFIX):
        data = stack.datastore.get_record(key)
        try:
            record = json.loads(data) if data else None
        except ValueError:
            continue
        if not isinstance(record, dict) or not record.get("flow"):
            continue
        namespace = record.get("namespace") or None
        from lamina.client.scope import list_runs

        runs = list_runs(stack.metadata, str(record["flow"]), namespace=namespace,
                         status="succeeded", limit=50)
        same_code = [r for r in runs if r.code_hash == record.get("code_hash")]
        for run in same_code[:1] or runs[:1]:
            found.setdefault(run.run_id, f"the newest run of deployment "
                             f"{record.get('deployment_id', key)!r}")
    return found


def materializations(stack: Stack) -> dict[str, str]:
    """The newest successful feature-materialization run of each namespace."""
    from lamina.features.schedule import FLOW_NAME

    found: dict[str, str] = {}
    seen: set[str] = set()
    for run in stack.metadata.list_runs(FLOW_NAME, status="succeeded"):
        namespace = run.namespace or run.user
        if namespace not in seen:
            seen.add(namespace)
            found[run.run_id] = "the newest feature materialization of its branch"
    return found

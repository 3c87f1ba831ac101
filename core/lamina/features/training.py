"""Training sets built inside flow steps, recorded with the run, and rebuilt later.

When a step calls :func:`training_set`, the run records (in its datastore, beside the task
records) exactly which feature definitions (version and fingerprint, and the definition
itself) and which source snapshots (content hash) it used, plus the entity rows as an
artifact. ``lamina diff`` then shows when two runs trained on different features, and
:func:`rebuild_training_set` recomputes the same table from the record.

Which task a training set belongs to is read from the running task's context
(:mod:`lamina.runtime.current`, a context variable), so two tasks running at once in one
process (threads of a Dask worker) each record their own, in their own stack's datastore.
"""

from __future__ import annotations

from typing import Any

from lamina.errors import FeatureStoreError
from lamina.runtime.current import task_state


def lineage_prefix(run_id: str) -> str:
    return f"runs/{run_id}/features/"


def lineage_key(run_id: str, step: str, index: int) -> str:
    """Where a task's training-set record lives in the datastore."""
    return f"{lineage_prefix(run_id)}{step}/{index}.json"


def get_store(stack: Any = None) -> Any:
    """The feature store of ``stack`` (default: inside a task, the task's stack, the one
    the run was launched on; elsewhere the project's stack), or the builtin ``local``
    store with default options when the stack configures none."""
    from lamina.stack import load_stack

    if stack is None:
        state = task_state()
        if state is not None and state.context is not None:
            stack = state.context.stack
    stack = stack if stack is not None else load_stack()
    if stack.has("feature_store"):
        return stack.component("feature_store")
    cached = getattr(stack, "_lamina_default_feature_store", None)
    if cached is None:
        from lamina.features.store import LocalFeatureStore

        cached = LocalFeatureStore(None, stack)
        stack._lamina_default_feature_store = cached
    return cached


def training_set(
    entities: Any,
    features: Any,
    *,
    store: Any = None,
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
    as_pandas: bool = False,
) -> Any:
    """A point-in-time-correct training set (see
    :meth:`lamina.features.store.LocalFeatureStore.get_historical_features`), recorded
    with the run when called inside a flow step.

    :param entities: entity rows: join keys and ``timestamp_column``.
    :param features: ``["view:feature", ...]``, a FeatureService or a service's name.
    :param store: the feature store (default: :func:`get_store`).
    """
    store = store if store is not None else get_store()
    resolved = store.resolve(features)
    table = store.historical(resolved, entities, timestamp_column=timestamp_column,
                             full_feature_names=full_feature_names)
    state = task_state()
    if state is not None and state.context is not None:
        _record(state.context, store, resolved, entities, features, timestamp_column,
                full_feature_names, table.num_rows)
    return table.to_pandas() if as_pandas else table


def _record(context: Any, store: Any, resolved: Any, entities: Any, features: Any,
            timestamp_column: str, full_feature_names: bool, rows: int) -> None:
    from lamina.features import sources

    task = {"run_id": context.run_id, "step": context.step, "index": context.index}
    artifacts = context.artifacts  # the task's own datastore (its stack's component)
    if isinstance(entities, str):
        entity_ref: Any = {"url": entities}
    else:
        ref, _ = artifacts.save(sources.to_arrow(entities),
                                name=f"{task['run_id']}/{task['step']}/{task['index']} "
                                "training-set entities")
        entity_ref = ref.to_dict()
    refs = [f"{r.view.name}:{f}" for r in resolved for f in r.features]
    record = {
        "run_id": task["run_id"],
        "step": task["step"],
        "index": task["index"],
        "features": refs,
        "service": features if isinstance(features, str) and ":" not in features else
        getattr(features, "name", None),
        "views": store.lineage(resolved),
        "entities": entity_ref,
        "timestamp_column": timestamp_column,
        "full_feature_names": full_feature_names,
        "rows": rows,
    }
    artifacts.put_json(lineage_key(task["run_id"], task["step"], task["index"]), record)


def run_lineage(artifacts: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """The training-set records of a run: ``"step[index]"`` -> record."""
    out = {}
    for key in artifacts.list(lineage_prefix(run_id)):
        rec = artifacts.get_json(key)
        if rec:
            out[f"{rec['step']}[{rec['index']}]"] = rec
    return out


def lineage_summary(artifacts: Any, run_id: str) -> dict[str, str]:
    """Flat ``"step[index] view" -> "vN def=... data=..."`` for ``lamina diff``."""
    out = {}
    for task, rec in run_lineage(artifacts, run_id).items():
        for view, info in rec["views"].items():
            out[f"{task} {view}"] = (
                f"v{info['version']} def={info['fingerprint'][:12]} "
                f"data={info['source_hash'][:12]} features={','.join(info['features'])}"
            )
    return out


def rebuild_training_set(ref: str, *, stack: Any = None, store: Any = None,
                         check_sources: bool = True, as_pandas: bool = False) -> Any:
    """Recompute the training set a task built, from its record: the same entity rows and
    the same definition versions. With ``check_sources`` (the default) it refuses when a
    source's content changed since, as the result would differ.

    :param ref: ``RUN/STEP`` or ``RUN/STEP/INDEX``.
    """
    from lamina.features import definitions as d
    from lamina.features import sources
    from lamina.features.registry import Version
    from lamina.features.store import ResolvedView
    from lamina.records import ArtifactRef
    from lamina.stack import load_stack

    parts = ref.split("/")
    if len(parts) not in (2, 3):
        raise FeatureStoreError(f"training set reference {ref!r} is not RUN/STEP[/INDEX]",
                                hint="e.g. churn-20261127-1/train")
    run_id, step = parts[0], parts[1]
    index = int(parts[2]) if len(parts) == 3 else 0
    stack = stack if stack is not None else load_stack()
    store = store if store is not None else get_store(stack)
    artifacts = stack.artifacts
    rec = artifacts.get_json(lineage_key(run_id, step, index))
    if rec is None:
        raise FeatureStoreError(
            f"task {run_id}/{step}/{index} recorded no training set",
            hint="only steps that call lamina.features.training_set(...) record one",
        )
    ent = rec["entities"]
    entities = ent["url"] if "url" in ent else artifacts.load(ArtifactRef.from_dict(ent))
    resolved = []
    for name, info in rec["views"].items():
        view = d.FeatureView.from_dict(info["definition"])
        if check_sources:
            if sources.is_run_ref(view.source):
                now = store._artifact(view)[1]
            else:
                now = sources.content_hash(view, sources.resolve_local(view.source, store.root),
                                           cache=store.registry)
            if now != info["source_hash"]:
                raise FeatureStoreError(
                    f"feature view {name!r}: source {view.source!r} changed since run "
                    f"{run_id} used it (content {info['source_hash'][:12]} -> {now[:12]})",
                    hint="restore that snapshot of the data, or pass check_sources=False "
                    "to rebuild on today's data",
                )
        version = Version("feature_view", name, info["version"], info["fingerprint"],
                          info["definition"], 0, 0.0)
        resolved.append(ResolvedView(view, version, tuple(info["features"])))
    table = store.historical(resolved, entities, timestamp_column=rec["timestamp_column"],
                             full_feature_names=rec["full_feature_names"])
    return table.to_pandas() if as_pandas else table

"""A flow step builds a training set: the run records the definitions' versions and the
sources' content hashes, ``lamina diff`` shows a change of features, and the training set
can be rebuilt from the record."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import US, ts

from lamina import Client
from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView, get_store, rebuild_training_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from client_util import lamina, load, project_stack

FLOW = '''
import numpy as np
import pyarrow as pa
from lamina import Flow
from lamina.features import training_set

flow = Flow("fs-train")


@flow.step
def entities() -> pa.Table:
    when = np.datetime64("2026-01-01", "us") + np.array([2, 5, 9], dtype="timedelta64[h]")
    return pa.table({"driver_id": pa.array([1, 2, 1], pa.int64()),
                     "event_timestamp": pa.array(when, pa.timestamp("us"))})


@flow.step
def train(entities: pa.Table) -> pa.Table:
    return training_set(entities, ["stats:rate"])
'''
H = 3600 * US
DRIVER = Entity("driver", ["driver_id"])


def write_source(folder: Path, rates: list[float]) -> None:
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 2, 1], pa.int64()),
        "event_timestamp": ts(np.array([1 * H, 1 * H, 8 * H])),
        "rate": rates,
    }), folder / "stats.parquet")


def view(ttl_hours: int) -> FeatureView:
    return FeatureView("stats", entities=[DRIVER], source="stats.parquet",
                       features=[Feature("rate", "float64")], ttl=dt.timedelta(hours=ttl_hours))


@pytest.fixture
def setup(project: Path):
    stack = project_stack(project)
    (project / "train_flow.py").write_text(FLOW)
    write_source(project, [0.1, 0.2, 0.3])
    store = get_store(stack)
    store.apply([DRIVER, view(12)])
    yield project, stack, store, load(project / "train_flow.py")
    stack.close()
    store.close()


@pytest.mark.slow
def test_training_set_recorded_diffed_and_rebuilt(setup) -> None:
    project, stack, store, flow = setup
    a = flow.run(stack=stack)
    assert a["train"].value.column("rate").to_pylist() == [0.1, 0.2, 0.3]
    rebuilt = rebuild_training_set(f"{a.id}/train", stack=stack, store=store)
    assert rebuilt.equals(a["train"].value)

    store.apply([view(2)])  # a new version of the view: TTL 2 h
    b = flow.run(stack=stack)
    assert b["train"].value.column("rate").to_pylist() == [0.1, None, 0.3]
    diff = Client(stack).diff(a.id, b.id)
    changes = {c.what: (c.a, c.b) for c in diff.features}
    assert list(changes) == ["train[0] stats"]
    va, vb = changes["train[0] stats"]
    assert va.startswith("v1 ") and vb.startswith("v2 ")
    assert va.split("data=")[1] == vb.split("data=")[1]  # same data, other definition
    assert "features (training sets):" in diff.render()
    # the CLI shows it too
    proc = lamina(project, "diff", a.id, b.id)
    assert proc.returncode == 0, proc.stderr
    assert "train[0] stats: v1 " in proc.stdout

    write_source(project, [0.1, 0.2, 0.35])  # same definition, new data
    c = flow.run(stack=stack)
    changes = {ch.what: (ch.a, ch.b) for ch in Client(stack).diff(b.id, c.id).features}
    vb, vc = changes["train[0] stats"]
    assert vb.split(" def=")[1].split()[0] == vc.split(" def=")[1].split()[0]
    assert vb.split("data=")[1] != vc.split("data=")[1]
    # run a's data is gone: rebuilding it refuses, unless asked to use today's data
    with pytest.raises(FeatureStoreError, match="changed since run"):
        rebuild_training_set(f"{a.id}/train", stack=stack, store=store)
    today = rebuild_training_set(f"{a.id}/train", stack=stack, store=store,
                                 check_sources=False)
    assert today.column("rate").to_pylist() == [0.1, 0.2, 0.35]  # run a's definition (12 h)
    with pytest.raises(FeatureStoreError, match="recorded no training set"):
        rebuild_training_set(f"{a.id}/entities", stack=stack, store=store)


SOURCE_FLOW = '''
import numpy as np
import pyarrow as pa
from lamina import Flow

flow = Flow("fs-source")


@flow.step
def stats() -> pa.Table:
    when = np.datetime64("2026-01-01", "us") + np.array([1, 1, 8], dtype="timedelta64[h]")
    return pa.table({"driver_id": pa.array([1, 2, 1], pa.int64()),
                     "event_timestamp": pa.array(when, pa.timestamp("us")),
                     "rate": [0.1, 0.2, 0.3]})
'''


@pytest.mark.slow
def test_a_flow_artifact_as_source(project: Path) -> None:
    stack = project_stack(project)
    (project / "source_flow.py").write_text(SOURCE_FLOW)
    run = load(project / "source_flow.py").run(stack=stack)
    store = get_store(stack)
    src = FeatureView("stats", entities=[DRIVER], source=f"run://{run.id}/stats",
                      features=[Feature("rate", "float64")], ttl=dt.timedelta(hours=12))
    store.apply([src])
    entities = pa.table({"driver_id": pa.array([1, 2, 1], pa.int64()),
                         "event_timestamp": ts(np.array([2 * H, 0, 9 * H]))})
    got = store.get_historical_features(entities, ["stats:rate"])
    assert got.column("rate").to_pylist() == [0.1, None, 0.3]
    resolved = store.resolve(["stats:rate"])
    assert store.lineage(resolved)["stats"]["source_hash"] == run["stats"].task.ref.key
    # a run source is read (and so checked) when used, not when applied
    store.apply([FeatureView("bad", entities=[DRIVER], source="run://nope/stats",
                             features=[Feature("rate", "float64")])])
    with pytest.raises(FeatureStoreError, match="run://nope/stats"):
        store.get_historical_features(entities, ["bad:rate"])
    stack.close()
    store.close()

"""Feature materializations are per branch: production and alice materialize the same
view over different windows (`lamina features materialize --production` / `--branch`),
and each branch's online lookups see their own values and their own incremental history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import T0, US, ts

from lamina.cli.main import main
from lamina.features import Entity, Feature, FeatureView, online_features
from lamina.features.training import get_store
from lamina.namespaces import resolve_branch
from lamina.stack import Stack

H = 3600 * US


def at(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).isoformat()


def _stack(project: Path, **choice: object) -> Stack:
    stack = Stack.load(cwd=project, env={})
    stack.branch = resolve_branch(user="alice", project="churn", **choice)  # type: ignore[arg-type]
    return stack


def test_each_branch_reads_its_own_materialization(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "lamina.toml").write_text('project = "churn"\n[stacks.local]\n'
                                         'datastore = "file://.lamina"\n')
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 1, 2], pa.int64()),
        "event_timestamp": ts(np.array([1 * H, 5 * H, 2 * H])),
        "rate": [0.1, 0.5, 0.2],
    }), project / "stats.parquet")
    get_store(_stack(project)).apply([FeatureView(
        "stats", entities=[Entity("driver", ["driver_id"])], source="stats.parquet",
        features=[Feature("rate", "float64")])])
    monkeypatch.setenv("LAMINA_USER", "alice")

    assert main(["features", "materialize", at(3), "--production"]) == 0
    assert main(["features", "materialize", at(9), "--branch", "exp"]) == 0
    assert "stats: 2 keys written" in capsys.readouterr().out

    rows = [{"driver_id": 1}, {"driver_id": 2}]
    prod = online_features(["stats:rate"], rows, stack=_stack(project, production=True),
                           now=at(9))
    exp = online_features(["stats:rate"], rows, stack=_stack(project, branch="exp"), now=at(9))
    mine = online_features(["stats:rate"], rows, stack=_stack(project), now=at(9))
    assert prod["rate"] == [0.1, 0.2]  # production's window ended at 3 h
    assert exp["rate"] == [0.5, 0.2]
    assert mine["rate"] == [None, None]  # alice's own branch materialized nothing

    # incremental: each branch continues from where its own last materialization ended
    store = get_store(_stack(project, production=True))
    assert store.materialize_incremental(at(9)) == {"stats": 1}  # only driver 1's 5 h row
    assert get_store(_stack(project)).materialize_incremental(at(9)) == {"stats": 2}

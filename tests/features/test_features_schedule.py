"""Materialization as a flow: ``lamina features materialize --incremental`` writes a flow
file and runs it on the stack's orchestrator (here the local one); each run is recorded
like any run and starts where the last materialization ended."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from features_util import US, ts

from lamina import Client
from lamina.features import get_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from client_util import lamina, lamina_ok, load, project_stack

H = 3600 * US

DEFINITIONS = '''
from lamina.features import Entity, Feature, FeatureView

stats = FeatureView("stats", entities=[Entity("driver", ["driver_id"])],
                    source="stats.parquet", features=[Feature("rate", "float64")])
'''


def test_incremental_materialization_runs_as_a_recorded_flow(tmp_path: Path) -> None:
    # driver 1 at 1 h and 5 h, driver 2 at 2 h (hours after 2026-01-01)
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 1, 2], pa.int64()),
        "event_timestamp": ts(np.array([1 * H, 5 * H, 2 * H])),
        "rate": [0.1, 0.5, 0.2],
    }), tmp_path / "stats.parquet")
    (tmp_path / "features.py").write_text(DEFINITIONS)
    lamina_ok(tmp_path, "features", "apply", "features.py")

    out = lamina_ok(tmp_path, "features", "materialize", "--incremental", "2026-01-01T03:00")
    flow_file = tmp_path / "materialize_features.py"
    assert f"wrote {flow_file}" in out
    lamina_ok(tmp_path, "features", "materialize", "--incremental", "2026-01-01T06:00")
    lamina_ok(tmp_path, "features", "materialize", "--incremental", "2026-01-01T06:00")

    stack = project_stack(tmp_path)
    runs = Client(stack).runs("materialize-features")
    assert len(runs) == 3 and all(r.status == "succeeded" for r in runs)
    # oldest first: both keys, then driver 1's newer row only, then nothing new
    written = [r["materialize"].value for r in reversed(runs)]
    assert written == [{"stats": 2}, {"stats": 1}, {"stats": 0}]
    assert [r.params["end"] for r in reversed(runs)] == ["2026-01-01T03:00"] + [
        "2026-01-01T06:00"] * 2
    store = get_store(stack)
    got = store.get_online_features(["stats:rate"], [{"driver_id": 1}, {"driver_id": 2}])
    assert got["rate"] == [0.5, 0.2]
    store.close()

    # the file is an ordinary flow an orchestrator can load; --view narrows it
    lamina_ok(tmp_path, "features", "materialize", "--incremental", "--write-only",
              "--view", "stats", "--flow-file", "only_stats.py")
    flow = load(tmp_path / "only_stats.py")
    assert flow.name == "materialize-features" and list(flow.steps) == ["materialize"]
    assert "views: str = 'stats'" in (tmp_path / "only_stats.py").read_text()
    assert len(Client(stack).runs("materialize-features")) == 3  # --write-only ran nothing


def test_bad_combinations_are_named(tmp_path: Path) -> None:
    proc = lamina(tmp_path, "features", "materialize", "--incremental", "--start", "2026-01-01")
    assert proc.returncode != 0
    assert "--start does not go with --incremental" in proc.stderr
    proc = lamina(tmp_path, "features", "materialize")
    assert proc.returncode != 0 and "give END" in proc.stderr

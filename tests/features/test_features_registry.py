"""Definitions are versioned like code: new versions only on change, revisions, diff, CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import US, ts

from lamina.features import Entity, Feature, FeatureService, FeatureView, LocalFeatureStore

DRIVER = Entity("driver", ["driver_id"])


def write_source(folder: Path) -> None:
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": ts(np.array([0, US])),
        "rate": [0.5, 0.7],
        "trips": pa.array([3, 4], pa.int64()),
    }), folder / "stats.parquet")


def stats(ttl_hours: int = 12, with_trips: bool = False) -> FeatureView:
    feats = [Feature("rate", "float64")] + ([Feature("trips", "int64")] if with_trips else [])
    return FeatureView("stats", entities=[DRIVER], source="stats.parquet", features=feats,
                       ttl=dt.timedelta(hours=ttl_hours))


def test_versions_only_on_change_and_diff(tmp_path: Path) -> None:
    write_source(tmp_path)
    store = LocalFeatureStore(root=tmp_path)
    first = store.apply([DRIVER, stats(), FeatureService("churn", ["stats:rate"])])
    assert first.revision == 1 and len(first.versions) == 3
    assert store.apply([DRIVER, stats()]).revision is None  # same content: no new version
    second = store.apply([stats(ttl_hours=6, with_trips=True)])
    assert second.revision == 2
    assert [(v.name, v.version) for v in second.versions] == [("driver", 1), ("stats", 2)][1:]
    assert store.show("stats").version == 2
    assert store.show("stats", 1).spec["ttl_seconds"] == 12 * 3600
    changes = store.diff()  # revision 1 -> 2
    fields = {(c[0], c[1]): (c[2], c[3]) for c in changes}
    assert fields[("feature_view stats", "version")] == (1, 2)
    assert fields[("feature_view stats", "ttl_seconds")] == (43200.0, 21600.0)
    assert fields[("feature_view stats", "feature trips")] == (None, "int64")
    assert not any(c[0].startswith("entity") for c in changes)
    assert store.diff(name="stats") == [c for c in changes if c[1] != "version"]
    # the state of the registry at revision 1 is still there
    assert {(v.name, v.version) for v in store.list_definitions(1)} == {
        ("driver", 1), ("stats", 1), ("churn", 1)}
    removed = store.apply([], remove=["churn"])
    assert removed.versions[0].removed
    assert "churn" not in {v.name for v in store.list_definitions()}
    store.close()


def run_cli(cwd: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(cwd)}
    proc = subprocess.run([sys.executable, "-m", "lamina", "features", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_cli_apply_list_show_diff(tmp_path: Path) -> None:
    write_source(tmp_path)
    defs = tmp_path / "defs.py"
    defs.write_text(
        "import datetime as dt\n"
        "from lamina.features import Entity, Feature, FeatureView\n"
        "driver = Entity('driver', ['driver_id'])\n"
        "stats = FeatureView('stats', entities=[driver], source='stats.parquet',\n"
        "                    features=[Feature('rate', 'float64')], ttl=dt.timedelta(hours=12))\n"
    )
    assert "revision 1" in run_cli(tmp_path, "apply", "defs.py")
    assert "no change" in run_cli(tmp_path, "apply", "defs.py")
    defs.write_text(defs.read_text().replace("hours=12", "hours=1"))
    assert "feature_view stats v2" in run_cli(tmp_path, "apply", "defs.py")
    listed = json.loads(run_cli(tmp_path, "list", "--json"))
    assert {(d["name"], d["version"]) for d in listed} == {("driver", 1), ("stats", 2)}
    assert "stats" in run_cli(tmp_path, "list")
    shown = json.loads(run_cli(tmp_path, "show", "stats", "--version", "1", "--json"))
    assert shown["definition"]["ttl_seconds"] == 43200
    text = run_cli(tmp_path, "diff")
    assert "feature_view stats:" in text and "ttl_seconds: 43200.0 -> 3600.0" in text
    assert "ttl_seconds" in run_cli(tmp_path, "diff", "1", "2", "--name", "stats")

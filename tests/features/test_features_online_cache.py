"""``online_features`` without ``stack=``: the project's store is built once per process and
configuration, reused, and built again when the configuration changes."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import T0, ts

import lamina.stack
from lamina.errors import ConfigError, FeatureStoreError
from lamina.features import Entity, Feature, FeatureView, get_store, online_features
from lamina.features.online import clear_store_cache, default_store

ROWS = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 99}]
NOW = T0 + dt.timedelta(days=1)


def config(online_db: str) -> str:
    return (
        "[stacks.local]\n"
        'datastore = "file://.lamina"\n'
        f'feature_store = {{ plugin = "local", online_options = {{ path = "{online_db}" }} }}\n'
    )


def materialize(project: Path) -> None:
    """Apply one view and materialize it into the online store the config names."""
    store = get_store(lamina.stack.Stack.load(cwd=project))
    store.apply([FeatureView("stats", entities=[Entity("driver", ["driver_id"])],
                             source="stats.parquet", features=[Feature("rate", "float64")])])
    store.materialize(None, NOW)
    store.close()


@pytest.fixture
def feature_project(project: Path) -> Iterator[Path]:
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": ts(np.array([0, 0])),
        "rate": [0.1, 0.2],
    }), project / "stats.parquet")
    (project / "lamina.toml").write_text(config("online_a.db"))
    materialize(project)
    clear_store_cache()
    yield project
    clear_store_cache()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the stack loads (the expensive part the cache saves)."""
    calls: list[int] = []
    real = lamina.stack.load_stack

    def counting(*args: object, **kw: object) -> lamina.stack.Stack:
        calls.append(1)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(lamina.stack, "load_stack", counting)
    return calls


def test_the_store_is_built_once_and_reused(feature_project: Path, loads: list[int]) -> None:
    first = online_features(["stats:rate"], ROWS, now=NOW)
    assert first == {"driver_id": [1, 2, 99], "rate": [0.1, 0.2, None]}
    store = default_store()
    for _ in range(20):
        assert online_features(["stats:rate"], ROWS, now=NOW) == first
    assert default_store() is store
    assert len(loads) == 1


def test_an_edited_config_builds_the_store_again(feature_project: Path, loads: list[int]) -> None:
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    old = default_store()
    # the config now names an online store nobody materialized: no values any more
    edited = feature_project / "lamina.toml"
    edited.write_text(config("online_b.db"))
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10_000_000))  # a coarse clock
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [None, None, None]
    assert default_store() is not old
    assert len(loads) == 2
    # materialized there, the kept store sees the values without being built again
    materialize(feature_project)
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    assert len(loads) == 2


def test_a_config_appearing_closer_to_the_working_directory_applies(
        feature_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    sub = feature_project / "serving"
    sub.mkdir()
    monkeypatch.chdir(sub)
    # the parent's config still applies from the subfolder...
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    # ...until the subfolder gets one of its own (a project without the view)
    (sub / "lamina.toml").write_text(config("online_a.db"))
    with pytest.raises(FeatureStoreError, match=r"no feature view 'stats' in .*/serving/"):
        online_features(["stats:rate"], ROWS, now=NOW)


def test_the_environment_is_part_of_the_configuration(
        feature_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (feature_project / "lamina.toml").write_text(
        config("online_a.db") + "\n[stacks.other]\n" + config("online_c.db").split("\n", 1)[1])
    monkeypatch.setenv("LAMINA_STACK", "local")
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    monkeypatch.setenv("LAMINA_STACK", "other")
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [None, None, None]
    monkeypatch.setenv("LAMINA_STACK", "local")
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]


def test_a_broken_config_is_reported_and_not_kept(feature_project: Path) -> None:
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]
    (feature_project / "lamina.toml").write_text("[stacks.local\n")
    with pytest.raises(ConfigError, match=r"lamina\.toml"):
        online_features(["stats:rate"], ROWS, now=NOW)
    (feature_project / "lamina.toml").write_text(config("online_a.db"))
    assert online_features(["stats:rate"], ROWS, now=NOW)["rate"] == [0.1, 0.2, None]

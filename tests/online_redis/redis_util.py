"""A feature project whose online store is Redis: a Parquet source and a lamina.toml."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HOUR_US = 3600 * 1_000_000

DEFINITIONS = '''
import datetime as dt
from lamina.features import Entity, Feature, FeatureService, FeatureView

driver = Entity("driver", ["driver_id"])
stats = FeatureView("stats", entities=[driver], source="stats.parquet",
                    features=[Feature("rate", "float64"), Feature("trips", "int64")],
                    created_timestamp_field="created", ttl=dt.timedelta(hours=2))
service = FeatureService("driver_service", ["stats:*"])
'''


def now_hour_us() -> int:
    """The current time rounded down to the hour, in epoch microseconds."""
    return (time.time_ns() // 1000) // HOUR_US * HOUR_US


def write_source(project: Path, rows: list[tuple[int, int, int, float, int]]) -> None:
    """rows: (driver_id, event_us, created_us, rate, trips)."""
    epoch = dt.datetime(1970, 1, 1)
    pq.write_table(pa.table({
        "driver_id": pa.array([r[0] for r in rows], pa.int64()),
        "event_timestamp": pa.array([epoch + dt.timedelta(microseconds=r[1]) for r in rows],
                                    pa.timestamp("us")),
        "created": pa.array([epoch + dt.timedelta(microseconds=r[2]) for r in rows],
                            pa.timestamp("us")),
        "rate": pa.array([r[3] for r in rows], pa.float64()),
        "trips": pa.array([r[4] for r in rows], pa.int64()),
    }), project / "stats.parquet")


def redis_project(project: Path, url: str, prefix: str, *, expire: bool = True) -> Path:
    """A project whose local feature store keeps its online values in Redis."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "lamina.toml").write_text(
        "[stacks.local]\n"
        'datastore = "file://.lamina"\n'
        f'feature_store = {{ plugin = "local", online_store = "redis", online_options = '
        f'{{ url = "{url}", prefix = "{prefix}", expire = {str(expire).lower()} }} }}\n'
    )
    (project / "features.py").write_text(DEFINITIONS)
    return project

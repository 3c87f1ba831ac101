"""Generated feature data with every point-in-time edge case, and an independent reference
join (pandas ``merge_asof``, with the tie rule and the TTL applied by hand)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from lamina.features import LocalFeatureStore
from lamina.features.options import FeatureStoreOptions

T0 = dt.datetime(2026, 1, 1)
US = 1_000_000


def make_store(root: object, engine: str = "auto") -> LocalFeatureStore:
    """A local feature store under ``root`` whose joins run on ``engine``."""
    return LocalFeatureStore(FeatureStoreOptions(engine=engine), root=root)


def ts(us: np.ndarray) -> pa.Array:
    return pa.array(np.datetime64(T0, "us") + us.astype("timedelta64[us]"), pa.timestamp("us"))


def feature_table(rng: np.random.Generator, n: int, keys: int, span_us: int,
                  null_keys: bool = True) -> pa.Table:
    """A feature source with ties on (key, event time), distinct created times per tie, a
    few null keys, unsorted."""
    key = rng.integers(0, keys, n)
    event = rng.integers(0, span_us, n)
    # ties: a quarter of the rows copy the key and event time of another row
    dup = rng.random(n) < 0.25
    src = rng.integers(0, n, n)
    key = np.where(dup, key[src], key)
    event = np.where(dup, event[src], event)
    created = event + rng.permutation(n).astype(np.int64) * 7 + 1  # unique per row
    key_arr = pa.array(key, pa.int64())
    if null_keys:
        mask = rng.random(n) < 0.01
        key_arr = pa.array(np.where(mask, 0, key), pa.int64(), mask=mask)
    return pa.table({
        "driver_id": key_arr,
        "event_timestamp": ts(event),
        "created": ts(created),
        # a few null values: the latest row's null is the answer, never an older value
        "f_float": pa.array(rng.random(n), mask=rng.random(n) < 0.02),
        "f_int": rng.integers(0, 1000, n),
    })


def entity_table(rng: np.random.Generator, features: pa.Table, n: int, keys: int,
                 span_us: int, ttl_us: int) -> pa.Table:
    """Entity rows: random ones, exact-timestamp matches, rows exactly at and just past the
    TTL, keys never seen, null keys and null timestamps, duplicates; shuffled."""
    fk = features.column("driver_id").to_numpy(zero_copy_only=False)
    fe = (features.column("event_timestamp").cast(pa.int64()).to_numpy()
          - np.datetime64(T0, "us").astype(np.int64))
    parts_k, parts_t = [], []
    parts_k.append(rng.integers(0, keys + 5, n))  # some keys never in the source
    parts_t.append(rng.integers(0, span_us, n))
    pick = rng.integers(0, len(fk), n // 2)
    ok = ~np.isnan(fk[pick].astype(float))
    parts_k.append(fk[pick][ok].astype(np.int64))
    parts_t.append(fe[pick][ok])  # exact timestamp matches
    pick = rng.integers(0, len(fk), n // 4)
    ok = ~np.isnan(fk[pick].astype(float))
    parts_k.append(fk[pick][ok].astype(np.int64))
    parts_t.append(fe[pick][ok] + ttl_us)  # exactly at the TTL: still valid
    pick = rng.integers(0, len(fk), n // 4)
    ok = ~np.isnan(fk[pick].astype(float))
    parts_k.append(fk[pick][ok].astype(np.int64))
    parts_t.append(fe[pick][ok] + ttl_us + 1)  # one microsecond past the TTL
    pick = rng.integers(0, len(fk), n // 4)
    ok = ~np.isnan(fk[pick].astype(float))
    parts_k.append(fk[pick][ok].astype(np.int64))
    parts_t.append(fe[pick][ok] - 1)  # one microsecond before a row: never see it
    key = np.concatenate(parts_k)
    when = np.concatenate(parts_t)
    dups = rng.integers(0, len(key), len(key) // 10)
    key = np.concatenate([key, key[dups]])
    when = np.concatenate([when, when[dups]])
    order = rng.permutation(len(key))
    key, when = key[order], when[order]
    key_mask = rng.random(len(key)) < 0.01
    ts_mask = rng.random(len(key)) < 0.01
    ts_arr = ts(when)
    ts_arr = pa.array(ts_arr.to_numpy(zero_copy_only=False), pa.timestamp("us"), mask=ts_mask)
    return pa.table({
        "driver_id": pa.array(np.where(key_mask, 0, key), pa.int64(), mask=key_mask),
        "event_timestamp": ts_arr,
        "label": pa.array(np.arange(len(key))),
    })


def reference_join(entities: pa.Table, source: pa.Table, features: list[str],
                   ttl_us: int | None, created: str | None = "created") -> pd.DataFrame:
    """Point-in-time join by pandas merge_asof; ties and TTL applied by hand."""
    ent = entities.to_pandas()
    ent["__pos"] = np.arange(len(ent))
    src = source.to_pandas()
    src = src.dropna(subset=["driver_id", "event_timestamp"])
    order = ["driver_id", "event_timestamp"] + ([created] if created else [])
    src = src.sort_values(order, kind="mergesort")
    # tie rule by hand: among rows with the same key and event time keep the latest created
    src = src.drop_duplicates(["driver_id", "event_timestamp"], keep="last")
    src = src.rename(columns={"event_timestamp": "__src_ts"})
    src["__on"] = src["__src_ts"]
    valid = ent.dropna(subset=["driver_id", "event_timestamp"]).copy()
    valid["__on"] = valid["event_timestamp"]
    valid = valid.sort_values("__on", kind="mergesort")
    src = src.sort_values("__on", kind="mergesort")
    valid["driver_id"] = valid["driver_id"].astype("int64")
    src["driver_id"] = src["driver_id"].astype("int64")
    merged = pd.merge_asof(valid, src[["driver_id", "__on", "__src_ts", *features]],
                           on="__on", by="driver_id", direction="backward",
                           allow_exact_matches=True)
    if ttl_us is not None:
        age = merged["event_timestamp"] - merged["__src_ts"]
        expired = age > pd.Timedelta(microseconds=ttl_us)
        for f in features:
            merged[f] = merged[f].astype("float64").where(~expired)
    out = ent[["__pos"]].merge(merged[["__pos", *features]], on="__pos", how="left")
    out = out.sort_values("__pos").reset_index(drop=True)
    return out[features]


def assert_same(result: pa.Table, expected: pd.DataFrame, features: list[str]) -> None:
    """Every row and every feature equal (NaN == null), in order."""
    assert result.num_rows == len(expected)
    for f in features:
        got = result.column(f).to_pandas().astype("float64").to_numpy()
        want = expected[f].astype("float64").to_numpy()
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        bad = np.flatnonzero(~same)
        assert bad.size == 0, (f"{f}: {bad.size} rows differ, first at {bad[:5]}: "
                               f"got {got[bad[:5]]}, want {want[bad[:5]]}")

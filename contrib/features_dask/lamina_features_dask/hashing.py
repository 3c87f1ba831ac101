"""Which partition a row goes to: a hash of its join keys, the same for equal keys on both
sides (an int32 entity key and an int64 source key, a whole float and an int, a string and
a dictionary-encoded string)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(values: Any) -> Any:
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _MIX1
        x ^= x >> np.uint64(27)
        x *= _MIX2
        x ^= x >> np.uint64(31)
    return x


def column_hash(column: Any) -> Any:
    """A uint64 hash per value of an Arrow column (nulls hash as 0: they match nothing,
    any partition will do)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind):
        return _splitmix(column.cast(pa.int64()).fill_null(0).to_numpy())
    if pa.types.is_floating(kind):
        values = column.cast(pa.float64()).fill_null(0).to_numpy()
        whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2**62)
        as_int = np.where(whole, values, 0).astype(np.int64)
        bits = values.view(np.int64)
        return _splitmix(np.where(whole, as_int, bits))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = pc.fill_null(column, "").to_numpy(zero_copy_only=False)
        return pd.util.hash_array(values.astype(object), categorize=False)
    values = np.asarray(column.to_pylist(), dtype=object)
    return pd.util.hash_array(values.astype(str).astype(object), categorize=False)


def partition_of(table: Any, keys: Sequence[str], partitions: int) -> Any:
    """The partition (0..partitions-1) of each row of ``table``, from its ``keys``."""
    h = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            h = _splitmix(h * np.uint64(31) + column_hash(table.column(key)))
    return (h % np.uint64(partitions)).astype(np.int64)


def split(table: Any, keys: Sequence[str], partitions: int) -> list[Any]:
    """``table`` cut into ``partitions`` tables by key hash, each keeping the rows' order."""
    part = partition_of(table, keys, partitions)
    order = np.argsort(part, kind="stable")
    counts = np.bincount(part, minlength=partitions)
    ordered = table.take(order)
    out, start = [], 0
    for n in counts:
        out.append(ordered.slice(start, int(n)))
        start += int(n)
    return out

"""pandas frames (and series) through Arrow IPC: index, dtypes, categoricals and time
zones come back as they were (pandas' own Arrow metadata)."""

from __future__ import annotations

import json
from typing import IO, Any

from lamina.datastore.serializers.arrow import read_ipc, write_ipc

KIND_KEY = b"lamina.pandas"
#: Column under which a Series is stored (its own name goes to the footer metadata).
_SERIES_COLUMN = "__lamina_series__"


def _pandas_kind(value: Any) -> str | None:
    cls = type(value)
    if not cls.__module__.startswith("pandas"):
        return None
    import pandas as pd

    if type(value) is pd.DataFrame:
        return "DataFrame"
    if type(value) is pd.Series:
        return "Series"
    return None


class PandasSerializer:
    """``pandas.DataFrame`` and ``pandas.Series``."""

    name = "pandas.arrow"
    priority = 100

    def handles(self, value: Any) -> bool:
        return _pandas_kind(value) is not None

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        import pyarrow as pa

        kind = _pandas_kind(value)
        meta: dict[str, Any] = {"kind": kind}
        frame = value
        if kind == "Series":
            name = value.name
            if name is not None and not isinstance(name, str | int | float | bool):
                raise TypeError(f"Series name {name!r} is not a str/int/float/bool")
            meta["name"] = name
            frame = value.to_frame(name=_SERIES_COLUMN)
        # preserve_index=None: a RangeIndex is kept as metadata, not materialized as a column.
        table = pa.Table.from_pandas(frame, preserve_index=None)
        write_ipc(table, file, {KIND_KEY: json.dumps(meta).encode()})
        del table
        columns = [str(c) for c in value.columns] if kind == "DataFrame" else []
        return {"kind": kind, "rows": len(value), "columns": columns[:50]}

    def load(self, path: str) -> Any:
        table, metadata = read_ipc(path)
        meta = json.loads(metadata.get(KIND_KEY, b"{}") or b"{}")
        frame = table.to_pandas()
        if meta.get("kind") == "Series":
            series = frame[_SERIES_COLUMN]
            series.name = meta.get("name")
            return series
        return frame

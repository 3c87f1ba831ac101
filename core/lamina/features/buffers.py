"""Arrow arrays as numpy arrays, read straight from their buffers.

pyarrow's own conversions (``Array.to_numpy``, ``pa.array`` from numpy) make it import
pandas, about 0.4 s in a fresh process: more than a point-in-time join's own work at 1M
rows. Both engines of the feature store move columns through these views instead.
"""

from __future__ import annotations

from typing import Any


def fixed_width(arrow_type: Any) -> int:
    """Bytes per value of a fixed-width type that can be moved as raw bytes (0: not)."""
    import pyarrow as pa

    if not (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
            or pa.types.is_temporal(arrow_type)):
        return 0
    try:
        bits = arrow_type.bit_width
    except ValueError:
        return 0
    return bits // 8 if bits in (8, 16, 32, 64) else 0


def values(array: Any, dtype: Any) -> Any:
    """The values of a fixed-width Arrow array as a numpy view (a null's slot holds any
    value)."""
    import numpy as np

    if not len(array):
        return np.zeros(0, dtype=dtype)
    data = np.frombuffer(array.buffers()[1], dtype=dtype)
    return data[array.offset:array.offset + len(array)]


def validity(array: Any) -> Any:
    """The validity of an Arrow array as numpy booleans, or ``None`` when it has no null."""
    import numpy as np

    if not array.null_count:
        return None
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], np.uint8), bitorder="little")
    return bits[array.offset:array.offset + len(array)].view(np.bool_)

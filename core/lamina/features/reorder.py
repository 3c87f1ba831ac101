"""Put the rows of a join result back in entity order without sorting.

The point-in-time join returns its rows in DuckDB's order, each with its entity row's
position (a permutation of ``0..n-1``). Sorting on that column inside DuckDB (``ORDER BY``)
was the largest cost lamina added to the bare ASOF join. Here each fixed-width column
(numbers, timestamps, dates) is scattered instead: its values and validity are written to
their positions in one pass, reading sequentially (a scatter is several times faster than
the equivalent gather by the inverse permutation, which stalls on every read). Other
types (strings, booleans, nested) are gathered with Arrow's ``take``. The positions are
checked first: every one filled exactly once, or an error."""

from __future__ import annotations

from typing import Any

from lamina.errors import FeatureStoreError

_PARALLEL_ROWS = 200_000  # below this, starting threads costs more than it saves


def _bug(message: str) -> FeatureStoreError:
    return FeatureStoreError(
        message,
        hint="this is a bug in lamina's feature store; please report it with the DuckDB "
        "and pyarrow versions",
    )


def _width(arrow_type: Any) -> int:
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


def _values(chunk: Any, dtype: Any) -> Any:
    """The values of a fixed-width Arrow array as a numpy view (nulls hold garbage)."""
    import numpy as np

    data = np.frombuffer(chunk.buffers()[1], dtype=dtype)
    return data[chunk.offset:chunk.offset + len(chunk)]


def by_position(columns: dict[str, Any], positions: Any) -> dict[str, Any]:
    """Each column (a ``pyarrow.ChunkedArray`` in result order) as an Arrow array in
    position order: value ``i`` of a column goes to index ``positions[i]``.
    ``positions`` must be a permutation of ``range(len(positions))``; anything else is
    reported as an error, never silently returned. The columns are taken out of
    ``columns`` as they are placed, so the caller's dict holds no copy of them after."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pyarrow's converters
        return _by_take(columns, positions)
    import pyarrow as pa

    n = len(positions)
    if positions.null_count:
        raise _bug("the point-in-time join returned rows without an entity position")
    if positions.type != pa.int64():  # pragma: no cover - DuckDB's BIGINT positions
        return _by_take(columns, positions)
    # from the buffers: Array.to_numpy would make pyarrow import pandas (~0.4 s)
    pos = np.concatenate([_values(c, np.int64) for c in positions.chunks] or
                         [np.empty(0, np.int64)])
    filled = np.zeros(n, dtype=np.bool_)
    try:
        filled[pos] = True
    except IndexError as exc:
        raise _bug(f"the point-in-time join returned a row position out of range ({exc})"
                   ) from None
    if not filled.all():
        raise _bug("the point-in-time join returned some entity rows twice and others "
                   "not at all")
    del filled
    names = list(columns)
    fixed = [name for name in names if _width(columns[name].type)]
    work = [(name, columns.pop(name)) for name in fixed]

    def place(item: tuple[str, Any]) -> Any:
        col = item[1]
        values = np.empty(n, dtype=f"u{_width(col.type)}")
        valid = np.empty(n, dtype=np.bool_) if col.null_count else None
        start = 0
        for chunk in col.chunks:
            size = len(chunk)
            if not size:
                continue
            where = pos[start:start + size]
            bufs = chunk.buffers()
            values[where] = _values(chunk, values.dtype)
            if valid is not None:
                if bufs[0] is None or chunk.null_count == 0:
                    valid[where] = True
                else:
                    bits = np.unpackbits(np.frombuffer(bufs[0], np.uint8), bitorder="little")
                    valid[where] = bits[chunk.offset:chunk.offset + size].view(np.bool_)
            start += size
        mask = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(col.type, n, [mask, pa.py_buffer(values)],
                                     null_count=-1 if mask is not None else 0)

    result: dict[str, Any] = {}
    if len(work) > 1 and n >= _PARALLEL_ROWS:
        # numpy releases the GIL while it scatters: two columns at a time (DuckDB is
        # done by now, so its threads leave the cores free)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            for (name, _col), array in zip(work, pool.map(place, work), strict=True):
                result[name] = array
    else:
        for name, col in work:
            result[name] = place((name, col))
    del work
    if columns:
        result.update(_by_take(columns, positions))
    return {name: result[name] for name in names}


def _by_take(columns: dict[str, Any], positions: Any) -> dict[str, Any]:
    """Arrow's gather by the inverse permutation, for any type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(positions)
    flat = positions.combine_chunks() if isinstance(positions, pa.ChunkedArray) else positions
    if hasattr(pc, "inverse_permutation"):  # pyarrow >= 20
        inverse = pc.inverse_permutation(flat, max_index=n - 1) if n else flat
    else:  # pragma: no cover - older pyarrow
        import numpy as np

        array = np.full(n, -1, dtype=np.int64)
        array[flat.to_numpy()] = np.arange(n, dtype=np.int64)
        inverse = pa.array(array, mask=array < 0)
    if inverse.null_count:
        raise _bug("the point-in-time join returned some entity rows twice and others "
                   "not at all")
    return {name: col.take(inverse).combine_chunks() for name, col in columns.items()}

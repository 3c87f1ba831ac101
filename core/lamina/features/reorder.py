"""Put the rows of a join result back in entity order without sorting.

The point-in-time join returns its rows in DuckDB's order, each with its entity row's
position (a permutation of ``0..n-1``). Sorting on that column inside DuckDB (``ORDER BY``)
was the largest cost lamina added to the bare ASOF join. Here each fixed-width column
(numbers, timestamps, dates) is scattered instead: its values and validity are written to
their positions (a scatter is several times faster than the equivalent gather by the
inverse permutation, which stalls on every read), one column per thread. Other types
(strings, booleans, nested) are gathered with Arrow's ``take`` at the end. The positions are
checked: every one filled exactly once, or an error."""

from __future__ import annotations

from typing import Any

from lamina.errors import FeatureStoreError
from lamina.features.buffers import fixed_width, validity
from lamina.features.buffers import values as values_of

_PARALLEL_ROWS = 200_000  # below this, starting threads costs more than it saves


def _bug(message: str) -> FeatureStoreError:
    return FeatureStoreError(
        message,
        hint="this is a bug in lamina's feature store; please report it with the DuckDB "
        "and pyarrow versions",
    )


class InPlace:
    """Columns of ``n`` rows built in position order from record batches that carry each
    row's position in column ``position``: :meth:`add` each batch (in any order, rows in
    any order), then :meth:`finish`. Anything but a permutation of ``range(n)`` over all
    batches is reported as an error, never silently returned.

    :meth:`add` checks the positions and places the validity; the values are scattered
    by :meth:`finish`, one column per thread (numpy releases the GIL while it scatters,
    and DuckDB, done by then, leaves the cores free)."""

    def __init__(self, n: int, schema: Any, position: str) -> None:
        import numpy as np

        self.n = n
        self.position = position
        self.names = [name for name in schema.names if name != position]
        self.types = {name: schema.field(name).type for name in self.names}
        self.values = {name: np.empty(n, dtype=f"u{fixed_width(t)}")
                       for name, t in self.types.items() if fixed_width(t)}
        #: per fixed-width column its validity so far; ``None`` while it has no null
        self.valid: dict[str, Any] = dict.fromkeys(self.values)
        self.others: dict[str, list[Any]] = {name: [] for name in self.names
                                             if name not in self.values}
        self.positions: list[Any] = []
        self.batches: list[tuple[Any, Any]] = []
        self.filled = np.zeros(n, dtype=np.bool_)
        self.count = 0

    def add(self, batch: Any) -> None:
        """Place the rows of one record batch."""
        import numpy as np

        col = batch.column(self.position)
        if col.null_count:
            raise _bug("the point-in-time join returned rows without an entity position")
        pos = values_of(col, np.int64)
        try:
            self.filled[pos] = True
        except IndexError as exc:
            raise _bug(f"the point-in-time join returned a row position out of range "
                       f"({exc})") from None
        self.count += len(pos)
        self.batches.append((pos, batch))
        self._place_validity(pos, {name: validity(batch.column(name)) for name in self.values})
        if self.others:
            self.positions.append(col)
            for name, chunks in self.others.items():
                chunks.append(batch.column(name))

    def _place_validity(self, pos: Any, bits: dict[str, Any]) -> None:
        """Write each column's validity for this batch (nothing while it has no null)."""
        import numpy as np

        for name, b in bits.items():
            valid = self.valid[name]
            if b is None and valid is None:
                continue  # no null so far, none here
            if valid is None:  # its first nulls: the rows placed so far were all valid
                valid = self.valid[name] = np.ones(self.n, dtype=np.bool_)
            valid[pos] = True if b is None else b

    def finish(self) -> dict[str, Any]:
        """The columns, each an Arrow array in position order."""
        import numpy as np
        import pyarrow as pa

        if self.count != self.n or not self.filled.all():
            raise _bug(f"the point-in-time join returned {self.count} rows for {self.n} "
                       "entity rows, some of them twice and others not at all")
        self._scatter_values()
        out: dict[str, Any] = {}
        for name, values in self.values.items():
            valid = self.valid[name]
            nulls = 0 if valid is None else self.n - int(np.count_nonzero(valid))
            mask = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
            out[name] = pa.Array.from_buffers(self.types[name], self.n,
                                              [mask, pa.py_buffer(values)], null_count=nulls)
        if self.others:
            columns = {name: pa.chunked_array(chunks, type=self.types[name])
                       for name, chunks in self.others.items()}
            positions = pa.chunked_array(self.positions, type=pa.int64())
            out.update(_by_take(columns, positions))
        return {name: out[name] for name in self.names}

    def _scatter_values(self) -> None:
        batches, self.batches = self.batches, []

        def scatter(name: str) -> None:
            values = self.values[name]
            for pos, batch in batches:
                values[pos] = values_of(batch.column(name), values.dtype)

        names = list(self.values)
        if len(names) > 1 and self.n >= _PARALLEL_ROWS:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(scatter, names))
        else:
            for name in names:
                scatter(name)


def by_position(columns: dict[str, Any], positions: Any) -> dict[str, Any]:
    """Each column (a ``pyarrow.ChunkedArray`` in result order) as an Arrow array in
    position order: value ``i`` of a column goes to index ``positions[i]``, which must
    form a permutation of ``range(len(positions))``. The columns are taken out of
    ``columns`` as they are placed, so the caller's dict holds no copy of them after."""
    import pyarrow as pa

    if positions.type != pa.int64():  # pragma: no cover - DuckDB's BIGINT positions
        return _by_take(columns, positions)
    name = "__lamina_position"
    table = pa.table({name: positions, **columns})
    columns.clear()
    placed = InPlace(table.num_rows, table.schema, name)
    for batch in table.to_batches():
        placed.add(batch)
    del table
    return placed.finish()


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

"""The content hash a data read records: the same for the same rows whatever the chunking,
batch by batch (TableDigest) as for the whole table, different when a value changes."""

from __future__ import annotations

import pyarrow as pa

from lamina.sdk import TableDigest, table_digest


def _table(n: int = 150_000) -> pa.Table:
    return pa.table({
        "i": pa.array(range(n), pa.int64()),
        "s": [f"v{i % 977}" if i % 11 else None for i in range(n)],
        "f": [i / 3 if i % 7 else None for i in range(n)],
        "l": [[i, i + 1] for i in range(n)],
        "b": [i % 2 == 0 for i in range(n)],
    })


def test_the_digest_ignores_chunking_and_sees_every_value() -> None:
    t = _table()
    chunked = pa.concat_tables([t.slice(0, 12_345), t.slice(12_345, 100_000),
                                t.slice(112_345)])
    small = pa.Table.from_batches(t.to_batches(max_chunksize=3_000))
    assert table_digest(t) == table_digest(chunked) == table_digest(small)
    incremental = TableDigest(t.schema)
    for batch in small.to_batches():
        incremental.update(batch)
    assert incremental.hexdigest() == table_digest(t)
    changed = t.set_column(2, "f", pa.array([*t.column("f").to_pylist()[:-1], 0.5]))
    assert table_digest(changed) != table_digest(t)
    assert table_digest(t.slice(0, 0)) == table_digest(t.slice(7, 0))
    assert table_digest(t.slice(0, 0)) != table_digest(t.select(["i"]).slice(0, 0))

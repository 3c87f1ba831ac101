"""Arrow tables and record batches in the Arrow IPC *file* format, read back zero-copy
from a memory map."""

from __future__ import annotations

from typing import IO, Any

#: Footer metadata key telling the reader which Arrow type to rebuild.
KIND_KEY = b"lamina.kind"


def _arrow_kind(value: Any) -> str | None:
    cls = type(value)
    if not cls.__module__.startswith("pyarrow"):
        return None
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return "table"
    if isinstance(value, pa.RecordBatch):
        return "record_batch"
    return None


def write_ipc(table: Any, file: IO[bytes], metadata: dict[bytes, bytes]) -> None:
    """Stream ``table`` to ``file`` as an Arrow IPC file, buffer by buffer."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    sink = pa.PythonFile(file, mode="w")
    with ipc.new_file(sink, table.schema, metadata=metadata) as writer:
        writer.write(table)


def read_ipc(path: str) -> tuple[Any, dict[bytes, bytes]]:
    """The table in the IPC file at ``path`` (memory-mapped, zero-copy) and its footer
    metadata."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    source = pa.memory_map(path, "r")
    reader = ipc.open_file(source)
    return reader.read_all(), dict(reader.metadata or {})


class ArrowSerializer:
    """``pyarrow.Table`` and ``pyarrow.RecordBatch``."""

    name = "arrow.ipc"
    priority = 100

    def handles(self, value: Any) -> bool:
        return _arrow_kind(value) is not None

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        kind = _arrow_kind(value) or "table"
        write_ipc(value, file, {KIND_KEY: kind.encode()})
        names = list(value.schema.names)
        return {"kind": kind, "rows": value.num_rows, "columns": names[:50]}

    def load(self, path: str) -> Any:
        table, metadata = read_ipc(path)
        if metadata.get(KIND_KEY) == b"record_batch":
            batches = table.combine_chunks().to_batches()
            if len(batches) == 1:
                return batches[0]
            import pyarrow as pa

            return pa.RecordBatch.from_pylist([], schema=table.schema)
        return table

"""A preview of an artifact chosen by its type: a table's head and schema, an array's shape
and summary, JSON, text or an image.

Arrow tables, pandas frames and numpy arrays are read by their serializers, which run no
stored code. A pickled value is read with an unpickler that accepts only plain Python
data (dicts, lists, strings, numbers, bytes, sets): anything that would import a class
(a model, a custom object) is not loaded unless the user asks for it (``unpickle=True``).
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from typing import TYPE_CHECKING, Any

import attrs

from lamina.cards.components import Image, Table

if TYPE_CHECKING:
    from lamina.client import Task
    from lamina.records import ArtifactRef

#: Rows of a table shown, items of a list or characters of a text.
HEAD_ROWS = 20
TEXT_CHARS = 20_000
#: Largest pickled object the safe unpickler reads for a preview.
SAFE_PICKLE_BYTES = 20 * 1024 * 1024

_SAFE_GLOBALS = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "bytearray"), ("builtins", "range"), ("builtins", "slice"),
    ("collections", "OrderedDict"),
}


class NeedsUnpickling(Exception):
    """The value is an object whose class would have to be imported to read it."""


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads plain data only: any other global is refused before it is imported."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise NeedsUnpickling(f"{module}.{name}")


def load_plain_pickle(data: bytes) -> Any:
    """Unpickle ``data`` if it holds only plain Python data, else raise NeedsUnpickling."""
    return _PlainDataUnpickler(io.BytesIO(data)).load()


@attrs.frozen
class Preview:
    """What the artifact section of a task page shows."""

    kind: str  # table | array | json | text | image | object | none
    summary: list[tuple[str, str]]  # (label, value) facts
    html: str = ""  # escaped HTML (tables, images)
    text: str = ""  # shown in <pre> (escaped by the template)
    needs_unpickle: bool = False
    note: str = ""


def _facts(ref: ArtifactRef) -> list[tuple[str, str]]:
    facts = [("type", ref.type or "?"), ("serializer", ref.serializer),
             ("size", f"{ref.size:,} bytes"), ("content hash", ref.key)]
    return facts


def _table_preview(table: Any, facts: list[tuple[str, str]]) -> Preview:
    schema = [(str(f.name), str(f.type)) for f in table.schema]
    facts += [("rows", f"{table.num_rows:,}"), ("columns", str(len(schema)))]
    head = Table.from_data(table.slice(0, HEAD_ROWS), title=f"first {min(HEAD_ROWS, table.num_rows)} rows")
    schema_table = Table(("column", "type"), tuple(schema), total_rows=len(schema), title="schema")
    return Preview("table", facts, html=schema_table.html() + head.html())


def _array_preview(array: Any, facts: list[tuple[str, str]]) -> Preview:
    import numpy as np

    facts += [("shape", str(tuple(array.shape))), ("dtype", str(array.dtype))]
    if array.size and np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array):
        values = np.asarray(array, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size:
            facts += [("min", f"{finite.min():g}"), ("max", f"{finite.max():g}"),
                      ("mean", f"{finite.mean():g}"), ("std", f"{finite.std():g}")]
        if finite.size != values.size:
            facts.append(("non-finite", f"{values.size - finite.size:,}"))
    with np.printoptions(threshold=200, edgeitems=5, linewidth=100):
        text = repr(np.asarray(array))
    return Preview("array", facts, text=text)


def value_preview(value: Any, facts: list[tuple[str, str]]) -> Preview:
    """A preview of a value already loaded."""
    module = type(value).__module__.split(".")[0]
    if module == "pyarrow" and hasattr(value, "schema") and hasattr(value, "slice"):
        return _table_preview(value, facts)
    if module == "pandas" and hasattr(value, "columns"):
        import pyarrow as pa

        return _table_preview(pa.Table.from_pandas(value, preserve_index=False), facts)
    if module == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        return _array_preview(value, facts)
    if isinstance(value, bytes | bytearray):
        try:
            image = Image.from_data(bytes(value))
        except Exception:
            return Preview("text", facts, text=bytes(value[:TEXT_CHARS]).decode(errors="replace"))
        return Preview("image", facts, html=image.html())
    if isinstance(value, str):
        more = len(value) > TEXT_CHARS
        return Preview("text", facts, text=value[:TEXT_CHARS],
                       note=f"first {TEXT_CHARS:,} of {len(value):,} characters" if more else "")
    if isinstance(value, dict | list | tuple | int | float | bool | set | frozenset) or value is None:
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value[:HEAD_ROWS]):
            facts.append(("items", f"{len(value):,}"))
        text = json.dumps(value, indent=2, default=repr, sort_keys=False)
        more = len(text) > TEXT_CHARS
        return Preview("json", facts, text=text[:TEXT_CHARS],
                       note=f"first {TEXT_CHARS:,} characters" if more else "")
    if hasattr(value, "savefig"):
        return Preview("image", facts, html=Image.from_data(value).html())
    text = repr(value)
    return Preview("object", facts, text=text[:TEXT_CHARS])


def artifact_preview(task: Task, *, unpickle: bool = False) -> Preview:
    """The preview of a task's result; a pickled object is loaded only with ``unpickle``.
    A value that cannot be previewed (or read) says why instead of failing the page."""
    try:
        return _artifact_preview(task, unpickle=unpickle)
    except Exception as err:
        ref = task.record.output
        return Preview("object", _facts(ref) if ref else [],
                       note=f"no preview: {type(err).__name__}: {err}")


def _artifact_preview(task: Task, *, unpickle: bool) -> Preview:
    record = task.record
    if record.output is None:
        return Preview("none", [], note="this task has no stored result")
    ref = record.output
    facts = _facts(ref)
    artifacts = task.run.client.stack.artifacts
    if ref.serializer in ("arrow.ipc", "pandas.arrow", "numpy.npy"):
        return value_preview(task.value, facts)
    if ref.serializer == "cloudpickle" and not unpickle:
        if ref.size > SAFE_PICKLE_BYTES:
            return Preview("object", facts, needs_unpickle=True,
                           note="too large to preview without loading it")
        try:
            value = load_plain_pickle(artifacts.get_bytes(ref.key, name=task.id))
        except NeedsUnpickling as needs:
            return Preview("object", facts, needs_unpickle=True,
                           note=f"a pickled object (it imports {needs}): loading it runs code "
                           "from the datastore")
        return value_preview(value, facts)
    if ref.serializer != "cloudpickle" and not unpickle:
        return Preview("object", facts, needs_unpickle=True,
                       note=f"stored by serializer {ref.serializer!r}: load it to preview")
    # asked to unpickle: classes of the project's own modules (the flow file) must import
    root = str(task.run.client.stack.project_root)
    if root not in sys.path:
        sys.path.append(root)
    return value_preview(task.load(trust=True), facts)  # the user asked: that is consent


#: File name extension of a download, by serializer.
DOWNLOAD_SUFFIX = {"arrow.ipc": ".arrow", "pandas.arrow": ".arrow", "numpy.npy": ".npy",
                   "cloudpickle": ".pkl"}

"""Round trips through each builtin serializer, stored in a real folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from ds_util import make_store

from lamina.datastore.serializers import SerializerRegistry, builtin_serializers, type_name
from lamina.datastore.serializers.numpy import NumpySerializer
from lamina.errors import SerializationError


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store")


def roundtrip(store, value):
    ref, _ = store.save(value, name="r/s/0")
    return ref, store.load(ref, name="r/s/0")


#: arrays of every layout the numpy serializer must keep, by name
ARRAYS = {
    "c-order": np.arange(24, dtype=np.float64).reshape(2, 3, 4),
    "f-order": np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
    "0-d": np.array(3.5),
    "big-endian": np.arange(10, dtype=">f8"),
    "empty": np.zeros((0, 5), dtype=np.int16),
    "structured": np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", ">f8")]),
    "unicode": np.array(["a", "bcd"]),
    "complex": np.array([1 + 2j, 3 - 1j]),
}


@pytest.mark.parametrize("array", list(ARRAYS.values()), ids=list(ARRAYS))
def test_numpy_round_trip_keeps_dtype_shape_and_order(store, array):
    ref, back = roundtrip(store, array)
    assert ref.serializer == "numpy.npy"
    assert ref.type == "numpy.ndarray"
    assert ref.info["shape"] == list(array.shape)
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    if array.ndim > 1:
        assert back.flags.f_contiguous == array.flags.f_contiguous
        assert back.flags.c_contiguous == array.flags.c_contiguous


@pytest.mark.parametrize("array", list(ARRAYS.values()), ids=list(ARRAYS))
def test_numpy_buffers_are_the_dumped_bytes_as_views_of_the_array(array):
    """``dump_buffers`` (saving from memory) gives exactly what ``dump`` writes (same
    key), and the body is the array's own memory, not a copy."""
    out = io.BytesIO()
    info = NumpySerializer().dump(array, out)
    held = NumpySerializer().dump_buffers(array)
    assert held is not None
    buffers, buffer_info = held
    assert b"".join(bytes(b) for b in buffers) == out.getvalue()
    assert buffer_info == info
    if array.size:
        assert np.shares_memory(np.frombuffer(buffers[-1], dtype=np.uint8), array)


def test_numpy_buffers_of_a_strided_view_are_declined():
    assert NumpySerializer().dump_buffers(np.arange(100)[::3]) is None


def test_numpy_load_is_a_read_only_memory_map(store):
    ref, back = roundtrip(store, np.arange(1000, dtype=np.float64))
    assert isinstance(back, np.memmap)
    assert back.filename == store.datastore.blob_path(ref.key)
    assert not back.flags.writeable
    with pytest.raises(ValueError):
        back[0] = 1.0


def test_numpy_object_is_a_plain_npy_file_with_aligned_data(store):
    array = np.arange(100, dtype=np.float64).reshape(10, 10)
    ref, _ = store.save(array, name="x")
    path = store.datastore.blob_path(ref.key)
    np.testing.assert_array_equal(np.load(path), array)  # readable without lamina
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        assert f.tell() % 64 == 0  # data starts aligned, good for memory maps


def test_numpy_non_contiguous_view_is_stored_as_its_values(store):
    base = np.arange(100, dtype=np.int64).reshape(10, 10)
    view = base[::2, 1::3]
    assert not (view.flags.c_contiguous or view.flags.f_contiguous)
    _, back = roundtrip(store, view)
    np.testing.assert_array_equal(back, view)


def test_numpy_dump_streams_from_the_array_buffer_without_tobytes(monkeypatch):
    """The .npy payload is handed to the file as a view of the array's own memory."""
    array = np.arange(1 << 16, dtype=np.float64)
    written: list[Any] = []

    class Spy(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            written.append(data)
            return memoryview(data).nbytes

    NumpySerializer().dump(array, Spy())
    payload = written[-1]
    assert isinstance(payload, memoryview)
    assert payload.nbytes == array.nbytes
    assert np.shares_memory(np.frombuffer(payload, dtype=np.uint8), array)


def test_object_arrays_and_subclasses_fall_back_to_pickle(store):
    ref, back = roundtrip(store, np.array([{"a": 1}, None], dtype=object))
    assert ref.serializer == "cloudpickle"
    assert back[0] == {"a": 1}
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    ref, back = roundtrip(store, masked)
    assert ref.serializer == "cloudpickle"
    assert back.mask.tolist() == [False, True, False]


def test_arrow_table_round_trip_is_memory_mapped(store):
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": ["a", None, "c"],
            "when": pa.array([1, 2, 3], pa.timestamp("ms", tz="UTC")),
        }
    )
    ref, back = roundtrip(store, table)
    assert ref.serializer == "arrow.ipc"
    assert ref.info == {"kind": "table", "rows": 3, "columns": ["id", "name", "when"]}
    assert isinstance(back, pa.Table)
    assert back.equals(table)


def test_arrow_load_is_zero_copy(store):
    table = pa.table({"v": pa.array(np.arange(1_000_000, dtype=np.int64))})
    ref, _ = store.save(table, name="big")
    before = pa.total_allocated_bytes()
    back = store.load(ref, name="big")
    # The 8 MB column is read from the object file's memory map, not copied into Arrow's
    # memory pool.
    assert pa.total_allocated_bytes() - before < 1_000_000
    assert back.column("v")[999_999].as_py() == 999_999


def test_arrow_record_batch_comes_back_as_a_record_batch(store):
    batch = pa.record_batch({"x": [1.0, 2.0]})
    ref, back = roundtrip(store, batch)
    assert ref.serializer == "arrow.ipc"
    assert isinstance(back, pa.RecordBatch)
    assert back.equals(batch)


def test_pandas_frame_keeps_index_categoricals_and_datetimes(store):
    frame = pd.DataFrame(
        {
            "country": pd.Categorical(["fi", "se", "fi"], categories=["fi", "no", "se"]),
            "when": pd.date_range("2024-01-01", periods=3, tz="Europe/Helsinki"),
            "naive": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "score": [0.5, np.nan, 1.5],
            "n": pd.array([1, None, 3], dtype="Int64"),
        },
        index=pd.Index(["a", "b", "c"], name="key"),
    )
    ref, back = roundtrip(store, frame)
    assert ref.serializer == "pandas.arrow"
    assert ref.type == "pandas.DataFrame"
    assert ref.info["rows"] == 3
    pd.testing.assert_frame_equal(back, frame)
    assert list(back["country"].cat.categories) == ["fi", "no", "se"]


def test_pandas_multiindex_and_series(store):
    index = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "v"])
    frame = pd.DataFrame({"x": [1, 2]}, index=index)
    _, back = roundtrip(store, frame)
    pd.testing.assert_frame_equal(back, frame)
    series = pd.Series([1.0, 2.0], index=pd.Index([10, 20], name="i"), name="price")
    ref, back = roundtrip(store, series)
    assert ref.serializer == "pandas.arrow"
    pd.testing.assert_series_equal(back, series)
    unnamed = pd.Series(["a", "b"])
    _, back = roundtrip(store, unnamed)
    pd.testing.assert_series_equal(back, unnamed)


def test_pickle_fallback_handles_lambdas_and_local_classes(store):
    class Point:
        def __init__(self, x):
            self.x = x

    offset = 10
    ref, back = roundtrip(store, (lambda v: v + offset, Point(3), {"nested": [1, (2, 3)]}))
    assert ref.serializer == "cloudpickle"
    assert ref.type == "tuple"
    fn, point, data = back
    assert fn(1) == 11
    assert point.x == 3
    assert data == {"nested": [1, (2, 3)]}


def test_type_names_are_qualified():
    assert type_name(1) == "int"
    assert type_name(np.zeros(1)) == "numpy.ndarray"
    assert type_name(pd.DataFrame()) == "pandas.DataFrame"


def test_registry_orders_by_priority_and_names_installed_on_unknown():
    class Custom:
        name = "custom.v1"
        priority = 200

        def handles(self, value):
            return isinstance(value, dict)

        def dump(self, value, file: IO[bytes]):
            file.write(json.dumps(value).encode())
            return {}

        def load(self, path):
            with open(path) as f:
                return json.load(f)

    registry = SerializerRegistry([*builtin_serializers(), Custom()])
    assert registry.names[0] == "custom.v1"
    assert registry.names[-1] == "cloudpickle"
    assert registry.choose({"a": 1}).name == "custom.v1"
    assert registry.choose([1]).name == "cloudpickle"
    with pytest.raises(SerializationError) as info:
        registry.get("parquet.v9")
    message = str(info.value)
    assert "parquet.v9" in message and "numpy.npy" in message and "cloudpickle" in message
    assert "fix:" in message


def test_handles_never_imports_heavy_libraries():
    code = (
        "import sys\n"
        "from lamina.datastore.serializers import SerializerRegistry, builtin_serializers\n"
        "reg = SerializerRegistry(builtin_serializers())\n"
        "for v in (1, 'a', {'x': [1.0]}, object()):\n"
        "    assert reg.choose(v).name == 'cloudpickle'\n"
        "heavy = [m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

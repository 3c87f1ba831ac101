"""The prediction log's layout and columns (the contract the monitoring layer reads)."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lamina.serving import (
    Field,
    Schema,
    ServingError,
    log_outcomes,
    read_outcomes,
    read_prediction_log,
)
from lamina.serving.prediction_log import PredictionLogWriter, prediction_schema
from lamina.stack import Stack


@pytest.fixture
def stack(project) -> Stack:
    return Stack.load(cwd=project, env={})


SCHEMA = Schema([Field("x", "FP64"), Field("tag", "BYTES"), Field("vec", "FP32", (2,))],
                [Field("y", "INT64")])


def _us(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def test_parts_layout_columns_and_types(stack, project) -> None:
    writer = PredictionLogWriter(stack.datastore, "dep", [SCHEMA], flush_seconds=60)
    day1 = dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)
    day2 = dt.datetime(2026, 3, 2, 0, 0, 1, tzinfo=dt.UTC)
    writer.record("r1", _us(day1), "a", "f/r/s", 1.5, 200, 2,
                  {"x": np.array([1.0, 2.0]), "tag": np.array(["p", "q"], dtype=object),
                   "vec": np.array([[1, 2], [3, 4]], dtype=np.float32)},
                  {"y": np.array([7, 8])})
    writer.record("r2", _us(day2), "b", "f/r2/s", 0.5, 400, 0, None, None)
    writer.close()
    keys = stack.datastore.list_records("predictions/dep")
    assert [k.split("/")[2] for k in keys] == ["date=2026-03-01", "date=2026-03-02"]
    assert all(k.split("/")[3].startswith("part-2026030") and k.endswith(".parquet") for k in keys)
    # a file datastore keeps parts as plain Parquet files under its folder
    on_disk = pq.read_table(project / ".lamina" / keys[0])
    assert on_disk.schema == prediction_schema(SCHEMA.inputs, SCHEMA.outputs)
    assert on_disk.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert on_disk.schema.field("status").type == pa.int32()
    assert on_disk.column_names[:7] == ["request_id", "timestamp", "deployment", "variant",
                                        "model", "latency_ms", "status"]
    log = read_prediction_log(stack, "dep")
    assert log.num_rows == 3  # one row per prediction row; a failed request is one row
    assert log["request_id"].to_pylist() == ["r1", "r1", "r2"]
    assert log["in.tag"].to_pylist() == ["p", "q", None]
    assert log["in.vec"].to_pylist() == [[1.0, 2.0], [3.0, 4.0], None]
    assert log["out.y"].to_pylist() == [7, 8, None]
    assert log["status"].to_pylist() == [200, 200, 400]
    assert log["deployment"].to_pylist() == ["dep"] * 3
    # time windows: [start, end)
    assert read_prediction_log(stack, "dep", start="2026-03-02").num_rows == 1
    assert read_prediction_log(stack, "dep", end=day2).num_rows == 2
    assert read_prediction_log(stack, "other").num_rows == 0


def test_writer_flushes_in_the_background_by_rows_and_time(stack) -> None:
    writer = PredictionLogWriter(stack.datastore, "bg", [SCHEMA], flush_seconds=0.2, flush_rows=5)
    for i in range(12):
        writer.record(f"r{i}", time.time_ns() // 1000, "a", "m", 1.0, 200, 1,
                      {"x": np.array([i], float), "tag": np.array(["t"], dtype=object),
                       "vec": np.zeros((1, 2), np.float32)}, {"y": np.array([i])})
    deadline = time.monotonic() + 20
    while writer.rows_written < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.rows_written == 12  # written without close(): the background thread did it
    writer.close()
    assert sorted(read_prediction_log(stack, "bg")["in.x"].to_pylist()) == [float(i) for i in range(12)]


def test_outcomes_by_python_call(stack) -> None:
    key = log_outcomes(stack, "dep", {"r1": 1, "r2": 0})
    assert key.startswith("outcomes/dep/date=")
    log_outcomes(stack, "dep", [("r3", 2.5)])
    table = read_outcomes(stack, "dep")
    assert table.schema.field("outcome").type == pa.float64()
    assert sorted(table["request_id"].to_pylist()) == ["r1", "r2", "r3"]
    with pytest.raises(ServingError, match="not a number"):
        log_outcomes(stack, "dep", {"r4": "yes"})
    with pytest.raises(ServingError, match="no outcomes"):
        log_outcomes(stack, "dep", {})


def test_matrix_requests_log_the_same_columns_as_split_ones() -> None:
    """[N, F] requests are logged by stacking their matrices once per part: the table is
    the one their columns give one by one, with a request of another form among them."""
    from lamina.serving.prediction_log import build_prediction_table
    from lamina.serving.schema import decode_inputs

    schema = Schema([Field("a", "FP64"), Field("b", "FP64")], [Field("y", "FP64")])
    entries, split = [], []
    for i, rows in enumerate([1, 3, 2]):
        data = [float(10 * i + j) for j in range(2 * rows)]
        columns, n, _ = decode_inputs(schema, [{"name": "m", "datatype": "FP64",
                                                "shape": [rows, 2], "data": data}])
        assert n == rows
        outputs = {"y": np.arange(rows, dtype=np.float64)}
        entries.append((f"r{i}", 1_000 + i, "a", "m", 1.0, 200, rows, columns, outputs, None))
        split.append((f"r{i}", 1_000 + i, "a", "m", 1.0, 200, rows, dict(columns), outputs,
                      None))
    stacked = build_prediction_table("d", entries, schema.inputs, schema.outputs)
    one_by_one = build_prediction_table("d", split, schema.inputs, schema.outputs)
    assert stacked.equals(one_by_one)
    assert stacked.column("in.b").to_pylist() == [1.0, 11.0, 13.0, 15.0, 21.0, 23.0]
    failed = ("bad", 1_010, "a", "m", 1.0, 400, 0, None, None, None)
    mixed = build_prediction_table("d", [*entries, failed], schema.inputs, schema.outputs)
    assert mixed.column("in.a").to_pylist()[-1] is None
    assert mixed.slice(0, stacked.num_rows).column("in.a").equals(stacked.column("in.a"))

"""Schemas recorded at training time and enforced on requests; the Model wrapper."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from lamina.serving import Field, Model, PayloadError, Schema, SchemaError
from lamina.serving.schema import decode_inputs, encode_outputs


class Doubler:
    def predict(self, x):
        return x.sum(axis=1) * 2


def _schema() -> Schema:
    return Schema.infer(np.zeros((3, 2)), np.zeros(3), input_names=["a", "b"],
                        output_names=["y"])


def test_infer_from_arrays_frames_and_mappings() -> None:
    s = _schema()
    assert [(f.name, f.datatype, f.shape) for f in s.inputs] == [("a", "FP64", ()), ("b", "FP64", ())]
    assert s.outputs == (Field("y", "FP64"),)
    frame = pd.DataFrame({"age": [1, 2], "city": ["x", "y"]})
    s2 = Schema.infer(frame, np.zeros((2, 3), dtype=np.float32))
    assert [(f.name, f.datatype) for f in s2.inputs] == [("age", "INT64"), ("city", "BYTES")]
    assert s2.outputs == (Field("predict", "FP32", (3,)),)
    assert not s2.matrix_form
    s3 = Schema.infer({"img": np.zeros((2, 4, 4), dtype=np.uint8)}, np.zeros(2, dtype=bool))
    assert s3.inputs == (Field("img", "UINT8", (4, 4)),) and s3.outputs[0].datatype == "BOOL"
    assert Schema.from_json(s.to_json()) == s


def test_schema_errors() -> None:
    with pytest.raises(SchemaError, match="at least one input"):
        Schema([], [])
    with pytest.raises(SchemaError, match="repeat: a"):
        Schema([Field("a", "FP64"), Field("a", "FP64")], [])
    with pytest.raises(SchemaError, match="unknown datatype 'FLOAT'"):
        Field("x", "FLOAT")
    with pytest.raises(SchemaError, match="2 input names for 3 columns"):
        Schema.infer(np.zeros((2, 3)), np.zeros(2), input_names=["a", "b"])


def test_decode_matrix_and_columns_forms() -> None:
    s = _schema()
    cols, rows, matrix = decode_inputs(s, [{"name": "input-0", "datatype": "FP64",
                                            "shape": [2, 2], "data": [1, 2, 3, 4]}])
    assert rows == 2 and matrix.tolist() == [[1, 2], [3, 4]] and cols["b"].tolist() == [2, 4]
    cols, rows, matrix = decode_inputs(s, [
        {"name": "b", "datatype": "INT32", "shape": [2, 1], "data": [[2], [4]]},
        {"name": "a", "datatype": "FP32", "shape": [2], "data": [1, 3]},
    ])
    assert matrix is None and rows == 2 and cols["a"].dtype == np.float64
    assert cols["b"].tolist() == [2.0, 4.0]


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        ([{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]}], "b", "missing"),
        ([{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
          {"name": "b", "datatype": "BOOL", "shape": [1], "data": [True]}], "b", "cannot feed"),
        ([{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
          {"name": "b", "datatype": "FP64", "shape": [-1], "data": [1]}], "b", "non-negative"),
        ([{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
          {"name": "b", "datatype": "FP64", "shape": [1]}], "b", "no data"),
        ([{"name": "a", "datatype": "FP99", "shape": [1], "data": [1]}], "a", "not a V2 datatype"),
        ([{"datatype": "FP64", "shape": [1], "data": [1]}], "inputs[0]", "name"),
        ("nope", "inputs", "non-empty list"),
    ],
)
def test_decode_rejects_what_the_model_cannot_take(inputs, field, message) -> None:
    with pytest.raises(PayloadError, match=message) as info:
        decode_inputs(_schema(), inputs)
    assert info.value.field == field


def test_integer_fields_refuse_floats_and_overflow() -> None:
    s = Schema([Field("n", "INT8")], [Field("y", "INT64")])
    with pytest.raises(PayloadError, match="cannot feed"):
        decode_inputs(s, [{"name": "n", "datatype": "FP64", "shape": [1], "data": [1.5]}])
    with pytest.raises(PayloadError) as info:
        decode_inputs(s, [{"name": "n", "datatype": "INT64", "shape": [1], "data": [300]}])
    assert info.value.field == "n"


def test_encode_checks_the_recorded_output_schema() -> None:
    s = _schema()
    assert encode_outputs(s, [1, 2], 2)["y"].dtype == np.float64
    with pytest.raises(SchemaError, match=r"shape \[3\]"):
        encode_outputs(s, [1, 2, 3], 2)
    with pytest.raises(SchemaError, match="no output 'y'"):
        encode_outputs(s, {"z": [1, 2]}, 2)


def test_model_needs_a_schema_and_a_predict_method() -> None:
    with pytest.raises(SchemaError, match="no schema") as info:
        Model(Doubler(), schema=None)
    assert "Schema.infer" in str(info.value)
    with pytest.raises(Exception, match="no method 'predict_proba'"):
        Model(Doubler(), predict="predict_proba", schema=_schema())
    m = Model(Doubler(), schema=_schema())
    out = m.predict([{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [1, 2]}])
    assert out["y"].tolist() == [6.0]
    again = pickle.loads(pickle.dumps(m))
    assert again.schema == m.schema and "Doubler.predict" in repr(again)


def test_a_function_from_user_code_travels_by_value(tmp_path, monkeypatch) -> None:
    (tmp_path / "user_flow_mod.py").write_text(
        "def triple(x):\n    return x['a'] * 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_flow_mod

    m = Model(predict=user_flow_mod.triple, schema=_schema(), input="dict")
    data = cloudpickle.dumps(m)
    monkeypatch.delitem(__import__("sys").modules, "user_flow_mod")
    (tmp_path / "user_flow_mod.py").unlink()  # the server cannot import the flow file
    loaded = pickle.loads(data)
    out = loaded.predict([{"name": "input-0", "datatype": "FP64", "shape": [1, 2], "data": [2, 5]}])
    assert out["y"].tolist() == [6.0]

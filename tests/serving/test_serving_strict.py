"""Issue 19, defects 1-3: the V2 decoder never casts silently, every malformed request is
a 400 naming the input and the rule (never a 500), and outcomes are validated so the A/B
report never shows inf or nan. Each test failed on the server before the hardening."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from v2_inproc import call, infer, make_app

from lamina.serving import ServingError, ab_report, log_outcomes
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.schema import Field, Schema, decode_inputs
from lamina.stack import Stack


def _matrix(datatype: str, data: object, shape: object = None) -> dict:
    return {"inputs": [{"name": "x", "datatype": datatype,
                        "shape": shape if shape is not None else [1, 4], "data": data}]}


def _is_400(app, body, field: str, *words: str) -> dict:
    status, answer = infer(app, body)
    assert status == 400, answer
    assert answer["field"] == field
    for w in words:
        assert w in answer["error"], answer["error"]
    return answer


# ------------------------------------------------------------------ defect 1: no silent casts


def test_an_int8_tensor_of_fractions_is_refused_not_truncated() -> None:
    app = make_app()
    # before: 200 with the sum of the truncated values
    _is_400(app, _matrix("INT8", [1.7, 2.2, 0, 0]), "x", "data[0]", "1.7", "INT8 takes integers")
    status, answer = infer(app, _matrix("INT8", [1, 2, 0, 0]))
    assert status == 200 and answer["outputs"][0]["data"] == [3.0]


@pytest.mark.parametrize("value", [True, False, "nan", " 1_0 ", "1", None])
def test_booleans_strings_and_null_are_not_numbers(value) -> None:
    app = make_app()
    answer = _is_400(app, _matrix("FP64", [value, 1, 2, 3]), "x", "data[0]")
    assert "FP64 takes numbers" in answer["error"] or "null" in answer["error"]


def test_integer_ranges_are_the_declared_datatypes() -> None:
    schema = Schema([Field("n", "INT64")], [Field("predict", "FP64")])
    app = make_app(schema, lambda x: np.asarray(x, dtype=np.float64))
    body = {"inputs": [{"name": "n", "datatype": "INT8", "shape": [1], "data": [300]}]}
    _is_400(app, body, "n", "300", "INT8 range [-128, 127]")
    body["inputs"][0]["data"] = [-128]
    assert infer(app, body)[0] == 200
    small = make_app(Schema([Field("n", "UINT8")], [Field("predict", "FP64")]),
                     lambda x: np.asarray(x, dtype=np.float64))
    body = {"inputs": [{"name": "n", "datatype": "UINT8", "shape": [1], "data": [-1]}]}
    _is_400(small, body, "n", "UINT8")
    body["inputs"][0]["data"] = [2**70]
    _is_400(small, body, "n", "UINT8")


@pytest.mark.parametrize("outputs", ["predict", {"name": "predict"}, [{"nom": "predict"}],
                                     ["predict"], 3])
def test_outputs_must_be_a_list_of_name_objects(outputs) -> None:
    app = make_app()
    body = {**_matrix("FP64", [1, 2, 3, 4]), "outputs": outputs}
    status, answer = infer(app, body)
    assert status == 400 and answer["field"].startswith("outputs"), answer
    body["outputs"] = [{"name": "predict"}]
    assert infer(app, body)[1]["outputs"][0]["data"] == [10.0]


def test_a_repeated_input_or_output_name_is_refused() -> None:
    app = make_app()
    one = {"name": "f0", "datatype": "FP64", "shape": [1], "data": [1]}
    rest = [{"name": f"f{i}", "datatype": "FP64", "shape": [1], "data": [1]} for i in (1, 2, 3)]
    _is_400(app, {"inputs": [one, {**one, "data": [5]}, *rest]}, "f0", "'f0' appears twice")
    body = {**_matrix("FP64", [1, 2, 3, 4]), "outputs": [{"name": "predict"}] * 2}
    _is_400(app, body, "outputs", "appears twice")


# ------------------------------------------------------------ defect 2: 400s, never a 500


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "null", "1e400"])
def test_non_finite_values_are_400_unless_the_signature_allows_them(literal) -> None:
    body = ('{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, '
            + literal + "]}]}")
    strict = make_app()
    answer = _is_400(strict, body, "x", "data[3]")
    assert "allow NaN" in answer["error"]
    lenient = Schema([Field(f"f{i}", "FP64", allow_nan=True) for i in range(4)],
                     [Field("predict", "FP64")])
    app = make_app(lenient, lambda x: np.nan_to_num(np.asarray(x), nan=0, posinf=0, neginf=0).sum(axis=1))
    status, answer = infer(app, body)
    assert status == 200 and answer["outputs"][0]["data"] == [6.0]


def test_the_signature_records_allow_nan_and_old_pickles_load() -> None:
    X = np.array([[1.0, np.nan], [2.0, 3.0]])
    schema = Schema.infer(X, np.zeros(2))
    assert [f.allow_nan for f in schema.inputs] == [False, True]
    assert Schema.from_json(json.loads(json.dumps(schema.to_json()))) == schema
    assert schema.to_json()["inputs"][1]["parameters"] == {"allow_nan": True}
    field = Field("a", "FP64")
    state = {"name": "a", "datatype": "FP64", "shape": ()}  # pickled before allow_nan
    old = Field.__new__(Field)
    old.__setstate__(state)
    assert old == field and pickle.loads(pickle.dumps(field)) == field
    with pytest.raises(Exception, match="needs a float datatype"):
        Field("n", "INT64", allow_nan=True)


@pytest.mark.parametrize(("shape", "data", "words"), [
    ([True, 4], [1, 2, 3, 4], "non-negative integers"),
    ([1.0, 4], [1, 2, 3, 4], "non-negative integers"),
    ("1,4", [1, 2, 3, 4], "non-negative integers"),
    ([0, 4], [], "the batch is empty"),
    ([], [], "'x' is not an input of the model"),
    ([2, 2], [1, 2, 3, 4], "is not [N, 4]"),
    ([1, 4], [[1, 2], [3, 4]], "does not follow the shape"),
    ([1, 4], [[1, 2, 3, [4]]], "data[3] is a list"),
    ([1, 4], {"a": 1}, "data must be a list"),
    ([1, 4], [1, 2, 3], "holds 4 values but data has 3"),
])
def test_shapes_and_nesting_are_checked(shape, data, words) -> None:
    _is_400(make_app(), _matrix("FP64", data, shape), "x", words)


def test_a_named_input_needs_a_batch_dimension() -> None:
    rest = [{"name": f"f{i}", "datatype": "FP64", "shape": [1], "data": [1]} for i in (1, 2, 3)]
    body = {"inputs": [{"name": "f0", "datatype": "FP64", "shape": [], "data": []}, *rest]}
    _is_400(make_app(), body, "f0", "no batch dimension")


def test_a_deeply_nested_body_is_a_400() -> None:
    app = make_app()
    status, answer = infer(app, "[" * 100_000 + "]" * 100_000)
    assert status == 400 and answer["field"] == "body" and "nests too deeply" in answer["error"]
    deep = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4],
                        "data": [[[[[[1, 2, 3, 4]]]]]]}]}
    _is_400(app, deep, "x", "does not follow the shape")


def test_id_and_parameters_have_their_v2_types() -> None:
    app = make_app()
    _is_400(app, {**_matrix("FP64", [1, 2, 3, 4]), "id": {"a": 1}}, "id", '"id" must be a string')
    _is_400(app, {**_matrix("FP64", [1, 2, 3, 4]), "parameters": [1]}, "parameters", "object")
    status, answer = infer(app, {**_matrix("FP64", [1, 2, 3, 4]), "id": "r-1"})
    assert status == 200 and answer["id"] == "r-1"


def test_nested_rows_in_the_shape_are_accepted() -> None:
    _, rows, matrix = decode_inputs(Schema([Field("a", "FP64"), Field("b", "FP64")],
                                                 [Field("y", "FP64")]),
                                          [{"name": "input-0", "datatype": "FP64",
                                            "shape": [2, 2], "data": [[1, 2], [3, 4]]}])
    assert rows == 2 and matrix.tolist() == [[1, 2], [3, 4]]


# --------------------------------------------------------------- defect 3: outcomes checked


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", '"1"', "true",
                                     "null", "1e16"])
def test_outcomes_refuse_what_would_poison_the_report(literal) -> None:
    app = make_app()
    body = '{"outcomes": [{"request_id": "r1", "outcome": ' + literal + "}]}"
    status, answer = call(app, "POST", "/v2/models/m/outcomes", body)
    assert status == 400, answer
    assert answer["field"] in ("body", "outcomes[0].outcome")


def test_the_ab_report_shows_no_inf_or_nan(project) -> None:
    stack = Stack.load(cwd=project, env={})
    schema = Schema([Field("x", "FP64")], [Field("y", "FP64")])
    writer = PredictionLogWriter(stack.datastore, "dep", [schema], flush_seconds=60)
    app = make_app(schema, lambda x: np.asarray(x, dtype=np.float64), writer=writer, name="dep")
    for i in range(6):
        body = {"id": f"r{i}", "inputs": [{"name": "x", "datatype": "FP64", "shape": [1],
                                           "data": [i]}]}
        assert infer(app, body)[0] == 200
    sent = ('{"outcomes": [{"request_id": "r0", "outcome": 1.5}, {"request_id": "r1", '
            '"outcome": 2.5}, {"request_id": "r2", "outcome": Infinity}]}')
    assert call(app, "POST", "/v2/models/dep/outcomes", sent)[0] == 400
    ok = {"outcomes": [{"request_id": f"r{i}", "outcome": 2.0 + i % 2} for i in range(6)]}
    assert call(app, "POST", "/v2/models/dep/outcomes", ok)[1] == {"accepted": 6}
    app.close()
    with pytest.raises(ServingError, match="not a finite number"):
        log_outcomes(stack, "dep", {"r0": float("nan")})
    with pytest.raises(ServingError, match="not a number"):
        log_outcomes(stack, "dep", {"r0": True})
    report = ab_report(stack, "dep")
    text = str(report)
    assert "inf" not in text and "nan" not in text
    (variant,) = report.variants
    assert variant.n == 6 and variant.mean == pytest.approx(2.5)
    assert all(v is None or not isinstance(v, float) or math.isfinite(v)
               for v in report.to_dict()["variants"][0].values())

"""Fuzzing the V2 decoder (issue 19): for any request inputs, ``decode_inputs`` either
answers exactly what a plain reference decoder written here answers, or refuses with a
PayloadError naming the same input; the server never answers 500 to them. Hypothesis runs
with a fixed budget and seed (derandomized, no example database), after the committed seed
corpus in ``fuzz_corpus/v2_inputs.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from v2_inproc import infer, make_app

from lamina.serving.errors import PayloadError
from lamina.serving.schema import V2_TO_NUMPY, Field, Schema, decode_inputs

CORPUS = Path(__file__).with_name("fuzz_corpus") / "v2_inputs.json"

SCHEMAS = {
    "sum4": Schema([Field(f"f{i}", "FP64") for i in range(4)], [Field("predict", "FP64")]),
    "nan32": Schema([Field("a", "FP32", allow_nan=True), Field("b", "FP32", allow_nan=True)],
                    [Field("predict", "FP64")]),
    "mixed": Schema([Field("n", "INT8"), Field("b", "BOOL"), Field("s", "BYTES"),
                     Field("v", "FP64", (2,), allow_nan=True)], [Field("predict", "FP64")]),
    "grid": Schema([Field("g", "UINT8", (2, 2))], [Field("predict", "FP64")]),
}

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ the reference decoder

KIND = {t: ("f" if t.startswith("FP") else "b" if t == "BOOL" else "s" if t == "BYTES" else "i")
        for t in V2_TO_NUMPY}
FEEDS = {"f": {"f", "i"}, "i": {"i"}, "b": {"b"}, "s": {"s"}}


class Refused(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _values(data: Any, shape: list[int], field: str) -> list[Any]:
    """Flat values of data: flat, or nested exactly as the shape."""
    if not isinstance(data, list):
        raise Refused(field)
    if not data or not isinstance(data[0], list):
        return data

    def walk(node: Any, dims: list[int]) -> list[Any]:
        if not dims:
            if isinstance(node, list):
                raise Refused(field)
            return [node]
        if not isinstance(node, list) or len(node) != dims[0]:
            raise Refused(field)
        return [x for child in node for x in walk(child, dims[1:])]

    if len(data) != shape[0]:
        return data  # not nested as the shape: the values themselves are wrong
    return walk(data, shape)


def _tensor(t: dict, field: Field) -> np.ndarray:
    name = field.name
    dt = t.get("datatype")
    if not isinstance(dt, str) or dt not in KIND or KIND[dt] not in FEEDS[field.kind]:
        raise Refused(name)
    shape = t.get("shape")
    if not isinstance(shape, list) or len(shape) > 32 or not shape:
        raise Refused(name)
    if not all(_is_int(d) and d >= 0 for d in shape) or shape[0] == 0:
        raise Refused(name)
    flat = _values(t.get("data"), shape, name)
    if len(flat) != math.prod(shape):
        raise Refused(name)
    kind = KIND[dt]
    out = []
    for v in flat:
        if kind == "f" and _is_int(v) and abs(v) >= 2**1024:
            raise Refused(name)  # no float holds it
        elif kind == "f" and (_is_int(v) or isinstance(v, float)):
            out.append(float(v))
        elif kind == "f" and v is None and field.allow_nan:
            out.append(math.nan)
        elif kind == "i" and _is_int(v):
            info = np.iinfo(V2_TO_NUMPY[dt])
            if not info.min <= v <= info.max:
                raise Refused(name)
            if field.kind == "i":
                mine = np.iinfo(V2_TO_NUMPY[field.datatype])
                if not mine.min <= v <= mine.max:
                    raise Refused(name)
            out.append(v)
        elif (kind == "b" and isinstance(v, bool)) or (kind == "s" and isinstance(v, str)):
            out.append(v)
        else:
            raise Refused(name)
    if field.kind == "f":
        with np.errstate(over="ignore"):
            arr = np.array(out, dtype=V2_TO_NUMPY[field.datatype])
        if not field.allow_nan and not np.isfinite(arr).all():
            raise Refused(name)
    else:
        arr = np.array(out, dtype=V2_TO_NUMPY[field.datatype])
    return arr.reshape(shape)


def reference(schema: Schema, inputs: Any) -> tuple[dict[str, np.ndarray], int]:
    if not isinstance(inputs, list) or not inputs:
        raise Refused("inputs")
    seen: set[str] = set()
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise Refused(f"inputs[{i}]")
        if t["name"] in seen:
            raise Refused(t["name"])
        seen.add(t["name"])
    names = [f.name for f in schema.inputs]
    shape0 = inputs[0].get("shape")
    if len(inputs) == 1 and inputs[0]["name"] not in names and schema.matrix_form and not (
            isinstance(shape0, list) and len(shape0) != 2):
        t = inputs[0]
        shape = t.get("shape")
        width = len(names)
        if not isinstance(shape, list) or len(shape) > 32 or not all(
                _is_int(d) and d >= 0 for d in shape) or len(shape) != 2 or shape[1] != width:
            raise Refused(t["name"])
        first = schema.inputs[0]
        matrix = _tensor(t, Field(t["name"], first.datatype, (width,),
                                  allow_nan=all(f.allow_nan for f in schema.inputs)))
        return {n: matrix[:, i] for i, n in enumerate(names)}, matrix.shape[0]
    for t in inputs:
        if t["name"] not in names:
            raise Refused(t["name"])
    by_name = {t["name"]: t for t in inputs}
    columns: dict[str, np.ndarray] = {}
    rows = None
    for f in schema.inputs:
        if f.name not in by_name:
            raise Refused(f.name)
        arr = _tensor(by_name[f.name], f)
        if f.shape == () and arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if tuple(arr.shape[1:]) != f.shape or (rows is not None and arr.shape[0] != rows):
            raise Refused(f.name)
        rows = arr.shape[0]
        columns[f.name] = arr
    return columns, rows or 0


def _same(schema: Schema, inputs: Any) -> None:
    try:
        want: Any = reference(schema, inputs)
    except Refused as exc:
        want = exc
    try:
        columns, rows, _ = decode_inputs(schema, inputs)
    except PayloadError as exc:
        assert isinstance(want, Refused), f"refused what the reference takes: {exc}"
        assert exc.field == want.field, (exc.field, want.field, str(exc))
        return
    assert not isinstance(want, Refused), f"took what the reference refuses ({want.field})"
    ref_columns, ref_rows = want
    assert rows == ref_rows and list(columns) == list(ref_columns)
    for name, arr in columns.items():
        expected = ref_columns[name]
        assert arr.dtype == expected.dtype and arr.shape == expected.shape, name
        if arr.dtype.kind == "f":
            np.testing.assert_array_equal(arr, expected)  # NaN equals NaN here
        else:
            assert arr.tolist() == expected.tolist(), name


# ------------------------------------------------------------------ strategies

SCALARS = st.one_of(
    st.integers(-300, 300), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e3, 1e3), st.booleans(), st.none(), st.text(max_size=3),
    st.sampled_from(["nan", " 1_0 ", "1", "Infinity"]),
)


#: Values that do not belong in a tensor of each kind (NaN and null only where not allowed).
BAD = {
    "f": st.one_of(st.booleans(), st.none(), st.sampled_from(["nan", " 1_0 ", "1"]),
                   st.sampled_from([math.nan, math.inf, -math.inf, 1e39]),
                   st.integers(2**1024, 2**1100)),
    "i": st.one_of(st.booleans(), st.none(), st.floats(-300, 300), st.text(max_size=2),
                   st.one_of(st.integers(128, 2**70), st.integers(-(2**70), -1))),
    "b": st.one_of(st.integers(0, 1), st.none(), st.text(max_size=2), st.floats()),
    "s": st.one_of(st.integers(), st.booleans(), st.none(), st.floats()),
}
GOOD = {"f": st.one_of(st.floats(-1e6, 1e6), st.integers(-1000, 1000)),
        "i": st.integers(0, 127), "b": st.booleans(), "s": st.text(max_size=4)}


@st.composite
def tensor(draw: Any, field: Field, rows: int, clean: bool,
           matrix_width: int | None = None) -> dict:
    """A tensor for ``field``: valid when ``clean``, else with one thing wrong."""
    row_shape = (matrix_width,) if matrix_width else field.shape
    shape: Any = [rows, *row_shape]
    name, datatype = field.name, field.datatype
    if matrix_width:
        name = draw(st.sampled_from(["input-0", "x", "f0", "zz"]))
    if field.kind == "f":  # any datatype that may feed the field
        datatype = draw(st.sampled_from([datatype, "FP32", "FP64"]))
    values = draw(st.lists(GOOD[field.kind], min_size=math.prod(shape),
                           max_size=math.prod(shape)))
    if field.kind == "f" and datatype != field.datatype:
        values = [float(v) for v in values]
    mutation = 0 if clean else draw(st.sampled_from([1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 7, 8]))
    if mutation == 6 and values:  # one bad value among good ones: the commonest slip
        values[draw(st.integers(0, len(values) - 1))] = draw(BAD[KIND.get(datatype, "f")])
    data: Any = values
    if len(shape) > 1 and draw(st.booleans()):  # nested as the shape
        data = np.array(values, dtype=object).reshape(shape).tolist()
    if mutation == 1:
        shape = draw(st.lists(st.one_of(st.integers(-1, 5), st.booleans(), st.floats(0, 3)),
                              max_size=4))
    elif mutation == 2:
        shape = [0, *row_shape]
        data = []
    elif mutation == 3:
        data = draw(st.one_of(st.none(), st.text(max_size=3), st.dictionaries(st.text(), SCALARS)))
    elif mutation == 4 and values:
        data = [values[:1], values[1:]]
    elif mutation == 5:
        data = values + values[:1]
    elif mutation == 7:
        name = draw(st.sampled_from([field.name, "zz", "f0", "n"]))
    elif mutation == 8:
        datatype = draw(st.sampled_from([*V2_TO_NUMPY, "FP99", 7, None]))
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


@st.composite
def request_inputs(draw: Any) -> tuple[str, Any]:
    key = draw(st.sampled_from(sorted(SCHEMAS)))
    schema = SCHEMAS[key]
    rows = draw(st.integers(1, 3))
    clean = draw(st.booleans())  # half of the requests are valid, half have one fault
    if schema.matrix_form and draw(st.booleans()):
        first = schema.inputs[0]
        inputs = [draw(tensor(first, rows, clean, matrix_width=len(schema.inputs)))]
    else:
        faulty = -1 if clean else draw(st.integers(0, len(schema.inputs) - 1))
        inputs = [draw(tensor(f, rows if i != faulty or draw(st.integers(0, 9)) else rows + 1,
                              i != faulty))
                  for i, f in enumerate(schema.inputs)]
        inputs = draw(st.permutations(inputs))
        if not clean and draw(st.integers(0, 6)) == 0 and inputs:
            inputs = [*inputs, inputs[0]]  # a repeated name
        if not clean and draw(st.integers(0, 6)) == 0:
            inputs = inputs[1:]  # a missing input
    if not clean and draw(st.integers(0, 15)) == 0:
        return key, draw(st.one_of(st.none(), st.just([]), st.text(max_size=3),
                                   st.lists(SCALARS, max_size=2)))
    return key, inputs


# ------------------------------------------------------------------ the tests


def _corpus() -> list[tuple[str, Any]]:
    return [(c["schema"], c["inputs"]) for c in json.loads(CORPUS.read_text())["cases"]]


@pytest.mark.parametrize(("key", "inputs"), _corpus())
def test_seed_corpus_agrees_with_the_reference(key, inputs) -> None:
    _same(SCHEMAS[key], inputs)


@FUZZ
@given(request_inputs())
def test_decoder_agrees_with_the_reference(case) -> None:
    key, inputs = case
    _same(SCHEMAS[key], inputs)


APPS = {key: make_app(schema, lambda x: np.zeros(len(next(iter(x.values())))
                                                 if isinstance(x, dict) else len(x)),
                      input="dict" if key in ("mixed", "grid") else "array")
        for key, schema in SCHEMAS.items()}


@settings(FUZZ, max_examples=150)
@given(request_inputs(), st.one_of(st.none(), st.just([{"name": "predict"}]), SCALARS,
                                   st.lists(st.dictionaries(st.sampled_from(["name", "x"]),
                                                            SCALARS), max_size=2)))
def test_the_server_answers_200_or_400_never_500(case, outputs) -> None:
    key, inputs = case
    body = {"inputs": inputs} if outputs is None else {"inputs": inputs, "outputs": outputs}
    status, answer = infer(APPS[key], json.dumps(body))
    assert status in (200, 400), answer
    if status == 400:
        assert answer["field"] and answer["error"]

"""A model's input/output schema: recorded at training time, enforced at serving time.

A schema is a list of fields, each with a name, an Open Inference Protocol (V2) datatype and
a per-row shape (``()`` for one value per row). A request names its tensors after the
input fields (one tensor per field, shape ``[N, *shape]``); when every input field is a
scalar of one datatype, a single ``[N, F]`` tensor (the form scikit-learn-minded V2 clients
send) is accepted as well, column ``i`` being field ``i``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from lamina.serving.errors import PayloadError, SchemaError

#: V2 datatype -> numpy dtype name.
V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_KIND = {"BOOL": "b", "BYTES": "s"}
for _t in ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"):
    _KIND[_t] = "i"
for _t in ("FP16", "FP32", "FP64"):
    _KIND[_t] = "f"
#: A request tensor of kind K may feed a field of kind F (no value is lost or reinterpreted).
_ACCEPTS = {"f": {"f", "i"}, "i": {"i"}, "b": {"b"}, "s": {"s"}}


def v2_datatype(dtype: Any) -> str:
    """The V2 datatype of a numpy dtype (strings and objects are ``BYTES``)."""
    import numpy as np

    dt = np.dtype(dtype)
    if dt.kind in "OUS":
        return "BYTES"
    for v2, name in V2_TO_NUMPY.items():
        if name != "object" and np.dtype(name) == dt:
            return v2
    raise SchemaError(
        f"dtype {dt} has no Open Inference Protocol datatype",
        hint="cast the data to a bool, integer, float or string dtype",
    )


def _check_datatype(instance: Any, attribute: Any, value: str) -> None:
    if value not in V2_TO_NUMPY:
        raise SchemaError(
            f"field {instance.name!r}: unknown datatype {value!r}",
            hint=f"use one of {', '.join(V2_TO_NUMPY)}",
        )


def _shape(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in value)


def _check_allow_nan(instance: Any, attribute: Any, value: bool) -> None:
    if value and _KIND.get(instance.datatype) != "f":
        raise SchemaError(
            f"field {instance.name!r}: allow_nan=True needs a float datatype, not "
            f"{instance.datatype}", hint="allow NaN only on FP16, FP32 or FP64 fields",
        )


@attrs.frozen
class Field:
    """One named tensor of a model's inputs or outputs.

    :param name: the tensor name in V2 requests and the column name (``in.<name>`` /
        ``out.<name>``) in the prediction log.
    :param datatype: a V2 datatype (``FP64``, ``INT64``, ``BOOL``, ``BYTES``...).
    :param shape: the shape of one row; ``()`` for a single value per row.
    :param allow_nan: whether a request may send NaN, ``Infinity``, ``-Infinity`` or
        ``null`` (read as NaN: a missing value) for this float field. Off by default: the
        server answers 400 to a non-finite value, since most models fail on one or answer
        nonsense. :meth:`Schema.infer` turns it on for a float input whose example data
        holds non-finite values (the model was trained with missing values).
    """

    name: str
    datatype: str = attrs.field(validator=_check_datatype)
    shape: tuple[int, ...] = attrs.field(default=(), converter=_shape)
    allow_nan: bool = attrs.field(default=False, converter=bool, validator=_check_allow_nan)

    @property
    def kind(self) -> str:
        return _KIND[self.datatype]

    def to_json(self) -> dict[str, Any]:
        """The V2 metadata form: the batch dimension is ``-1``; ``allow_nan`` travels in
        the tensor's ``parameters``."""
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype,
                               "shape": [-1, *self.shape]}
        if self.allow_nan:
            out["parameters"] = {"allow_nan": True}
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape,
                "allow_nan": self.allow_nan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # models pickled before allow_nan existed load with its default
        for key, default in (("name", None), ("datatype", None), ("shape", ()),
                             ("allow_nan", False)):
            object.__setattr__(self, key, state.get(key, default))


def _fields(value: Sequence[Field | Mapping[str, Any]]) -> tuple[Field, ...]:
    out = []
    for f in value:
        if isinstance(f, Field):
            out.append(f)
        else:
            shape = tuple(f.get("shape", ()))
            if shape and shape[0] == -1:
                shape = shape[1:]
            params = f.get("parameters") or {}
            out.append(Field(f["name"], f["datatype"], shape,
                             allow_nan=bool(params.get("allow_nan", False))))
    return tuple(out)


@attrs.frozen
class Schema:
    """The inputs and outputs of a model, in order."""

    inputs: tuple[Field, ...] = attrs.field(converter=_fields)
    outputs: tuple[Field, ...] = attrs.field(converter=_fields)

    def __attrs_post_init__(self) -> None:
        if not self.inputs:
            raise SchemaError("a schema needs at least one input field",
                              hint="Schema.infer(X_example, y_example) records one")
        for what, fields in (("input", self.inputs), ("output", self.outputs)):
            names = [f.name for f in fields]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise SchemaError(f"{what} field names repeat: {', '.join(sorted(dup))}",
                                  hint="give every field its own name")

    @functools.cached_property
    def matrix_form(self) -> bool:
        """Whether the inputs are scalars of one datatype (a ``[N, F]`` tensor fits)."""
        return all(f.shape == () for f in self.inputs) and len(
            {f.datatype for f in self.inputs}
        ) == 1

    @functools.cached_property
    def input_names(self) -> list[str]:
        """The input field names, in order."""
        return [f.name for f in self.inputs]

    @functools.cached_property
    def input_index(self) -> dict[str, int]:
        """Each input field's column in the ``[N, F]`` form."""
        return {f.name: i for i, f in enumerate(self.inputs)}

    @functools.cached_property
    def matrix_field(self) -> Field:
        """The row field of the ``[N, F]`` form (NaN allowed only when every input allows it)."""
        first = self.inputs[0]
        return Field(first.name, first.datatype, (len(self.inputs),),
                     allow_nan=all(f.allow_nan for f in self.inputs))

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [f.to_json() for f in self.inputs],
            "outputs": [f.to_json() for f in self.outputs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        return cls(data["inputs"], data["outputs"])

    @classmethod
    def infer(
        cls,
        inputs: Any,
        outputs: Any,
        *,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> Schema:
        """Record the schema of example data, typically the training set and the model's
        predictions on a few rows of it.

        A 2-D array or a DataFrame gives one scalar field per column (named by the frame's
        columns, ``input_names``, or ``f0, f1...``); a mapping gives one field per key. An
        output array gives one field ``predict`` (or ``output_names``); 2-D outputs keep
        their per-row shape.
        """
        return cls(
            _infer_fields(inputs, input_names, default="f", split_columns=True),
            _infer_fields(outputs, output_names, default="predict", split_columns=False),
        )


def _has_nonfinite(arr: Any) -> bool:
    """Whether a float example holds NaN or an infinity (the model takes missing values)."""
    import numpy as np

    return arr.dtype.kind == "f" and arr.size > 0 and not bool(np.isfinite(arr).all())


def _infer_fields(
    data: Any, names: Sequence[str] | None, *, default: str, split_columns: bool
) -> list[Field]:
    import numpy as np

    if isinstance(data, Mapping):
        return [Field(str(k), v2_datatype(np.asarray(v).dtype), np.asarray(v).shape[1:],
                      allow_nan=_has_nonfinite(np.asarray(v)))
                for k, v in data.items()]
    columns = getattr(data, "columns", None)
    dtypes = getattr(data, "dtypes", None)
    if columns is not None and dtypes is not None and not isinstance(data, np.ndarray):
        cols = [str(c) for c in columns]
        return [Field(n, v2_datatype(np.asarray(data[c]).dtype),
                      allow_nan=_has_nonfinite(np.asarray(data[c])))
                for n, c in zip(cols, columns, strict=True)]
    arr = np.asarray(data)
    if arr.ndim == 0:
        raise SchemaError("example data is a scalar, not a batch of rows",
                          hint="pass an array whose first dimension is the rows")
    datatype = v2_datatype(arr.dtype)
    if split_columns and arr.ndim == 2:
        width = arr.shape[1]
        names = list(names) if names is not None else [f"{default}{i}" for i in range(width)]
        if len(names) != width:
            raise SchemaError(f"{len(names)} input names for {width} columns",
                              hint="give one name per column")
        return [Field(n, datatype, allow_nan=_has_nonfinite(arr[:, i]))
                for i, n in enumerate(names)]
    if split_columns:
        name = names[0] if names else "input"
        return [Field(name, datatype, arr.shape[1:], allow_nan=_has_nonfinite(arr))]
    name = names[0] if names else default
    return [Field(name, datatype, arr.shape[1:])]


# ------------------------------------------------------------------------ enforcement


#: The Python types a JSON value of each kind may have (``bool`` is not an ``int`` here).
_LEAF_TYPES: dict[str, frozenset[type]] = {
    "f": frozenset({float, int}),
    "i": frozenset({int}),
    "b": frozenset({bool}),
    "s": frozenset({str}),
}
_TYPE_WORDS = {float: "a number", int: "an integer", bool: "a boolean", str: "a string",
               type(None): "null", list: "a list", dict: "an object"}
_RULES = {"f": "numbers (not booleans, strings or null)",
          "i": "integers (not fractions, booleans, strings or null)",
          "b": "true or false", "s": "strings"}
#: A tensor may have at most this many dimensions (numpy's own limit is 64).
MAX_DIMS = 32


def _word(t: type) -> str:
    return _TYPE_WORDS.get(t, t.__name__)


def _flatten(data: list[Any], shape: list[int], where: str, name: str) -> list[Any]:
    """The values of ``data``, flat (row-major); nested data must follow ``shape``."""
    flat = data
    depth = 0
    while flat and type(flat[0]) is list:
        if depth + 1 >= len(shape):
            raise PayloadError(f"{where}: data nests deeper than its shape {shape}",
                               field=name, hint="send the values flat, or nested as the shape")
        want = shape[depth + 1]
        if any(type(x) is not list or len(x) != want for x in flat):
            raise PayloadError(f"{where}: nested data does not follow the shape {shape} (a "
                               f"level-{depth + 2} list is not {want} long, or mixes lists "
                               "and values)", field=name,
                               hint="send the values flat, or nested as the shape")
        flat = [x for sub in flat for x in sub]
        depth += 1
    if depth and depth + 1 != len(shape):
        raise PayloadError(f"{where}: nested data does not follow the shape {shape}",
                           field=name, hint="send the values flat, or nested as the shape")
    return flat


def _checked_shape(shape: Any, where: str, name: str) -> list[int]:
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise PayloadError(f"{where}: shape must be a list of at most {MAX_DIMS} non-negative "
                           f"integers, got {shape!r}", field=name)
    return shape


def _tensor_array(tensor: Mapping[str, Any], field: Field, where: str,
                  name: str | None = None) -> Any:
    """The tensor's data as a numpy array of the field's dtype, shaped ``[N, *shape]``.

    Strict: a value must have the JSON type of the declared datatype (no booleans or
    strings for numbers, no fractions for integers), fit the range of both the declared
    datatype and the field's, and be finite unless the field allows NaN.
    """
    import numpy as np

    name = name or field.name
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in _KIND:
        raise PayloadError(f"{where}: datatype {datatype!r} is not a V2 datatype",
                           field=name, hint=f"send {field.datatype}")
    kind = _KIND[datatype]
    if kind not in _ACCEPTS[field.kind]:
        raise PayloadError(
            f"{where}: datatype {datatype} cannot feed field {name!r} of datatype "
            f"{field.datatype}", field=name, hint=f"send {field.datatype}",
        )
    shape = _checked_shape(tensor.get("shape"), where, name)
    if not shape:
        raise PayloadError(f"{where}: shape [] has no batch dimension", field=name,
                           hint=f"send shape [N{''.join(f', {d}' for d in field.shape)}]")
    if shape[0] == 0:
        raise PayloadError(f"{where}: the batch is empty (shape {shape})", field=name,
                           hint="send at least one row")
    data = tensor.get("data")
    if data is None:
        raise PayloadError(f"{where}: no data", field=name,
                           hint="send the values in \"data\" (row-major, may be flat)")
    if type(data) is not list:
        raise PayloadError(f"{where}: data must be a list, got {_word(type(data))}",
                           field=name, hint="send the values in a list (row-major, may be flat)")
    flat = _flatten(data, shape, where, name)
    size = 1
    for d in shape:
        size *= d
    if len(flat) != size:
        raise PayloadError(f"{where}: shape {shape} holds {size} values but data has "
                           f"{len(flat)}", field=name)
    allowed = _LEAF_TYPES[kind]
    nan_ok = field.allow_nan and kind == "f"
    found = set(map(type, flat))
    bad = found - allowed - ({type(None)} if nan_ok else set())
    if bad:
        t = next(iter(sorted(bad, key=_word)))
        index = next(i for i, x in enumerate(flat) if type(x) is t)
        rule = ("null (a missing value) is refused: the field does not allow NaN"
                if t is type(None) else f"{datatype} takes {_RULES[kind]}")
        raise PayloadError(f"{where}: data[{index}] is {_word(t)} ({flat[index]!r}): {rule}",
                           field=name, hint=f"send {field.datatype} values")
    if kind == "i" and flat:
        # the declared datatype's range (an INT8 tensor holds -128..127), on the exact ints
        info = np.iinfo(V2_TO_NUMPY[datatype])
        low, high = min(flat), max(flat)
        if low < info.min or high > info.max:
            raise PayloadError(f"{where}: value {low if low < info.min else high} is out of "
                               f"the {datatype} range [{info.min}, {info.max}]",
                               field=name, hint=f"send {datatype} values")
    try:
        with np.errstate(over="ignore"):
            arr = np.asarray(flat, dtype=V2_TO_NUMPY[field.datatype])
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(f"{where}: a value does not fit {field.datatype}: {exc}",
                           field=name, hint=f"send {field.datatype} values") from None
    if field.kind == "f" and not nan_ok and arr.size and not np.isfinite(arr).all():
        index = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise PayloadError(
            f"{where}: data[{index}] is {flat[index]!r}, not a finite {field.datatype} value "
            "(NaN, Infinity and numbers beyond the datatype's range are refused: the field "
            "does not allow NaN)", field=name,
            hint="send finite values, or record the field with allow_nan=True",
        )
    return arr.reshape(shape)


class MatrixColumns(Mapping[str, Any]):
    """The input columns of an ``[N, F]`` request: column ``i`` of the matrix is field
    ``i``, taken when asked for (a model fed the matrix, and the prediction log, which
    stacks the matrices of many requests, never split it per request)."""

    __slots__ = ("index", "matrix")

    def __init__(self, matrix: Any, index: dict[str, int]) -> None:
        self.matrix = matrix
        self.index = index

    def __getitem__(self, name: str) -> Any:
        return self.matrix[:, self.index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


def decode_inputs(schema: Schema, inputs: Any) -> tuple[Mapping[str, Any], int, Any]:
    """Check a V2 request's ``inputs`` against the schema.

    :return: ``(columns, rows, matrix)``: one array ``[N, *shape]`` per input field, the
        batch size, and the ``[N, F]`` matrix when the request sent one (else None).
    :raises PayloadError: naming the field and the rule, for anything the model cannot
        take (see docs/serving.md, "Validation").
    """
    if not isinstance(inputs, list) or not inputs:
        raise PayloadError('"inputs" must be a non-empty list of tensors', field="inputs")
    by_name: dict[str, Mapping[str, Any]] = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise PayloadError(f"inputs[{i}] must be an object with a \"name\"",
                               field=f"inputs[{i}]")
        if t["name"] in by_name:
            raise PayloadError(f"input {t['name']!r} appears twice in \"inputs\"",
                               field=t["name"], hint="send each input once")
        by_name[t["name"]] = t
    names = schema.input_names
    if (
        len(inputs) == 1
        and inputs[0]["name"] not in names
        and schema.matrix_form
        # the [N, F] form: a 2-D shape (or one too broken to tell)
        and not (isinstance(inputs[0].get("shape"), list) and len(inputs[0]["shape"]) != 2)
    ):
        t = inputs[0]
        width = len(schema.inputs)
        shape = _checked_shape(t.get("shape"), f"input {t['name']!r}", t["name"])
        if len(shape) != 2 or shape[1] != width:
            raise PayloadError(
                f"input {t['name']!r}: shape {shape} is not [N, {width}]: the model takes "
                f"{width} inputs ({', '.join(names)}), one per column", field=t["name"],
                hint=f"send shape [N, {width}]",
            )
        matrix = _tensor_array(t, schema.matrix_field, f"input {t['name']!r}", t["name"])
        return MatrixColumns(matrix, schema.input_index), matrix.shape[0], matrix
    unknown = [n for n in by_name if n not in names]
    if unknown:
        raise PayloadError(f"input {unknown[0]!r} is not an input of the model",
                           field=unknown[0], hint=f"inputs are: {', '.join(names)}")
    columns: dict[str, Any] = {}
    rows: int | None = None
    for f in schema.inputs:
        t = by_name.get(f.name)
        if t is None:
            raise PayloadError(f"input {f.name!r} is missing", field=f.name,
                               hint=f"send every input: {', '.join(names)}")
        arr = _tensor_array(t, f, f"input {f.name!r}")
        # a scalar field may come as [N] or [N, 1]
        if f.shape == () and arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if tuple(arr.shape[1:]) != f.shape:
            want = ", ".join(["N", *(str(d) for d in f.shape)])
            raise PayloadError(f"input {f.name!r}: shape {list(arr.shape)} does not match "
                               f"[{want}]", field=f.name, hint=f"send shape [{want}]")
        if rows is None:
            rows = arr.shape[0]
        elif arr.shape[0] != rows:
            raise PayloadError(f"input {f.name!r} has {arr.shape[0]} rows, other inputs "
                               f"have {rows}", field=f.name,
                               hint="send the same number of rows for every input")
        columns[f.name] = arr
    return columns, rows or 0, None


def decode_outputs_request(schema: Schema, outputs: Any) -> tuple[Field, ...]:
    """The output fields a V2 request asks for (``"outputs"``: absent, ``null`` or ``[]``
    for every output; else a list of ``{"name": ...}`` objects, each name once).

    :raises PayloadError: for any other form, an unknown or a repeated name.
    """
    fields = schema.outputs
    if outputs is None or outputs == []:
        return fields
    if not isinstance(outputs, list):
        raise PayloadError(f'"outputs" must be a list of {{"name": ...}} objects, got '
                           f"{_word(type(outputs))}", field="outputs",
                           hint='send "outputs": [{"name": "predict"}], or leave it out')
    known = {f.name for f in fields}
    wanted: list[str] = []
    for i, o in enumerate(outputs):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise PayloadError(f'outputs[{i}] must be an object with a "name"',
                               field=f"outputs[{i}]",
                               hint='send "outputs": [{"name": "predict"}]')
        name = o["name"]
        if name not in known:
            raise PayloadError(f"output {name!r} is not an output of the model (outputs: "
                               f"{', '.join(f.name for f in fields)})", field="outputs")
        if name in wanted:
            raise PayloadError(f"output {name!r} appears twice in \"outputs\"",
                               field="outputs", hint="ask for each output once")
        wanted.append(name)
    return tuple(f for f in fields if f.name in wanted)


def encode_outputs(schema: Schema, result: Any, rows: int) -> dict[str, Any]:
    """The predict function's result as one array per output field, checked against the
    recorded output schema (a mismatch is the model's fault: a :class:`SchemaError`)."""
    import numpy as np

    fields = schema.outputs
    if isinstance(result, Mapping):
        values = dict(result)
    elif len(fields) == 1:
        values = {fields[0].name: result}
    else:
        seq = list(result)
        if len(seq) != len(fields):
            raise SchemaError(f"predict returned {len(seq)} outputs, the schema has {len(fields)}",
                              hint="return a dict keyed by output name")
        values = {f.name: v for f, v in zip(fields, seq, strict=True)}
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in values:
            raise SchemaError(f"predict returned no output {f.name!r}",
                              hint="return every output of the recorded schema")
        arr = np.asarray(values[f.name])
        if arr.dtype.kind != "O" or f.datatype == "BYTES":
            arr = arr.astype(V2_TO_NUMPY[f.datatype], copy=False)
        if f.shape == () and arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape[:1] != (rows,) or tuple(arr.shape[1:]) != f.shape:
            raise SchemaError(
                f"output {f.name!r}: predict returned shape {list(arr.shape)}, the schema "
                f"records [{rows}{''.join(f', {d}' for d in f.shape)}]",
                hint="retrain with a schema that matches what predict returns",
            )
        out[f.name] = arr
    return out

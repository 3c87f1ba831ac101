"""The servable model a flow step returns, and how a model reference finds it.

A step makes a model servable by returning :class:`Model`: the fitted object, the name of
its predict method (or a function), and the schema recorded from the training data::

    @flow.step
    def model(data):
        clf = LogisticRegression().fit(data["X"], data["y"])
        return Model(clf, schema=Schema.infer(data["X"], clf.predict(data["X"][:5])))

The schema travels with the artifact, so the server enforces exactly what training saw.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving.errors import ModelNotServableError, ModelRefError, SchemaError
from lamina.serving.schema import Schema, decode_inputs, encode_outputs

if TYPE_CHECKING:
    from lamina.stack import Stack


def _is_local_module(name: str) -> bool:
    """Whether a module is the user's own code (a flow file or a sibling module), which a
    server cannot import, so a function from it is pickled by value."""
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) or ""
    top = name.split(".")[0]
    return bool(path) and "site-packages" not in path and top not in sys.stdlib_module_names \
        and top != "lamina"


class Model:
    """A fitted model with its predict function and the schema recorded at training time.

    :param obj: the fitted object (a scikit-learn estimator, a torch module...), or None
        when ``predict`` is a self-contained function.
    :param predict: the name of ``obj``'s method to call (``"predict"``,
        ``"predict_proba"``), or a function ``predict(obj, X)`` (``predict(X)`` without
        ``obj``).
    :param schema: the inputs and outputs (:meth:`Schema.infer` records them from data).
        Required: a model without one cannot be served safely.
    :param input: what predict receives: ``"array"`` (an ``[N, F]`` array of the scalar
        inputs, what scikit-learn takes), ``"dict"`` (one array per input name) or
        ``"frame"`` (a pandas DataFrame with the input names as columns).
    """

    def __init__(
        self,
        obj: Any = None,
        *,
        predict: str | Callable[..., Any] = "predict",
        schema: Schema | None,
        input: str = "array",
    ) -> None:
        if schema is None:
            raise SchemaError(
                "Model(...) has no schema",
                hint="pass schema=Schema.infer(X_train, model.predict(X_train[:5]))",
            )
        if not isinstance(schema, Schema):
            raise SchemaError(f"schema must be a lamina.serving.Schema, got {type(schema).__name__}",
                              hint="Schema.infer(X, y) or Schema(inputs=[...], outputs=[...])")
        if input not in ("array", "dict", "frame"):
            raise ModelNotServableError(f"Model(input={input!r}) is not one of array, dict, frame",
                                        hint="input='array' suits scikit-learn")
        if input == "array" and not schema.matrix_form and len(schema.inputs) != 1:
            raise SchemaError(
                "input='array' needs scalar inputs of one datatype (or a single input)",
                hint="use input='dict' or input='frame' for mixed inputs",
            )
        if isinstance(predict, str):
            if obj is None or not callable(getattr(obj, predict, None)):
                raise ModelNotServableError(
                    f"{type(obj).__name__} has no method {predict!r}",
                    hint="pass predict='the method name' or a function predict(obj, X)",
                )
        elif not callable(predict):
            raise ModelNotServableError(f"predict must be a method name or a function, got "
                                        f"{type(predict).__name__}")
        self.obj = obj
        self.predict_fn = predict
        self.schema = schema
        self.input = input

    # pickling: a function from the user's flow file travels by value
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        fn = state["predict_fn"]
        if callable(fn):
            import cloudpickle

            module = sys.modules.get(getattr(fn, "__module__", "") or "")
            by_value = module is not None and _is_local_module(module.__name__)
            if by_value:
                cloudpickle.register_pickle_by_value(module)
            try:
                state["predict_fn"] = ("cloudpickle", cloudpickle.dumps(fn))
            finally:
                if by_value:
                    cloudpickle.unregister_pickle_by_value(module)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        fn = state.get("predict_fn")
        if isinstance(fn, tuple) and fn and fn[0] == "cloudpickle":
            import cloudpickle

            state["predict_fn"] = cloudpickle.loads(fn[1])
        self.__dict__.update(state)

    def bind(self) -> Callable[[Any], Any]:
        """The function the server calls with the prepared input."""
        fn = self.predict_fn
        if isinstance(fn, str):
            return getattr(self.obj, fn)
        if self.obj is None:
            return fn
        obj = self.obj
        return lambda x: fn(obj, x)

    def prepare(self, columns: Mapping[str, Any], matrix: Any) -> Any:
        """The predict function's argument from decoded input columns."""
        import numpy as np

        if self.input == "dict":
            return dict(columns)
        if self.input == "frame":
            import pandas as pd

            return pd.DataFrame({k: list(v) if v.ndim > 1 else v for k, v in columns.items()})
        if matrix is not None:
            return matrix
        if len(columns) == 1 and not self.schema.matrix_form:
            return next(iter(columns.values()))
        return np.column_stack([columns[f.name] for f in self.schema.inputs])

    def predict(self, inputs: Any) -> dict[str, Any]:
        """Predict from V2 ``inputs`` (a list of tensor dicts): what the server does, usable
        in a notebook to check a model before deploying it."""
        columns, rows, matrix = decode_inputs(self.schema, inputs)
        return encode_outputs(self.schema, self.bind()(self.prepare(columns, matrix)), rows)

    def __repr__(self) -> str:
        ins = ", ".join(f"{f.name}:{f.datatype}" for f in self.schema.inputs[:6])
        more = "..." if len(self.schema.inputs) > 6 else ""
        outs = ", ".join(f"{f.name}:{f.datatype}" for f in self.schema.outputs)
        fn = self.predict_fn if isinstance(self.predict_fn, str) else getattr(
            self.predict_fn, "__name__", "function")
        return f"Model({type(self.obj).__name__}.{fn}, inputs=[{ins}{more}], outputs=[{outs}])"


def bind_validated(model: Model) -> Callable[[Any], Any]:
    """The function the server calls, for inputs the server has validated.

    The server checks every value against the schema (finite unless the field allows
    NaN) before predict runs, so a scikit-learn estimator need not check again: for one
    whose inputs allow no NaN, predict runs with scikit-learn's ``assume_finite`` and
    ``skip_parameter_validation`` (its own checks of a one-row input cost more than the
    arithmetic; see docs/performance.md). Anything else is :meth:`Model.bind` as it is.
    """
    predict = model.bind()
    base = sys.modules.get("sklearn.base")
    if base is None or not isinstance(model.obj, base.BaseEstimator) \
            or any(f.allow_nan for f in model.schema.inputs):
        return predict
    from sklearn import config_context

    def validated(x: Any) -> Any:
        with config_context(assume_finite=True, skip_parameter_validation=True):
            return predict(x)

    return validated


@attrs.frozen
class LoadedModel:
    """A model loaded from a run: the resolved reference ``FLOW/RUN/STEP``, the model, and
    the artifact it was read from (what a remote server loads, with no metadata store)."""

    ref: str
    model: Model
    artifact: Any = None  # lamina.records.ArtifactRef


def resolve_model(stack: Stack, ref: str) -> LoadedModel:
    """Load the model a reference names.

    ``FLOW/RUN/STEP`` names a step of a run (``RUN`` may be ``latest``: the latest
    successful run); ``FLOW/RUN`` and ``FLOW`` take the run's last step;
    ``model:NAME@ALIAS`` and ``model:NAME/VERSION`` a registered version
    (:mod:`lamina.registry`, in the stack's namespace). The run must
    belong to ``FLOW`` and the step's result must be a :class:`Model`.
    """
    from lamina.client import Client
    from lamina.errors import RunNotFoundError
    from lamina.registry import is_model_ref

    if is_model_ref(ref):  # model:churn@champion -> the version's FLOW/RUN/STEP
        from lamina.registry import resolve

        ref = resolve(ref, stack=stack).ref
    parts = [p for p in ref.strip().split("/") if p]
    if not parts or len(parts) > 3:
        raise ModelRefError(f"model reference {ref!r} is not FLOW, FLOW/RUN or FLOW/RUN/STEP",
                            hint="e.g. churn, churn/latest/model or churn/1a2b3c/model")
    flow = parts[0]
    run_ref = parts[1] if len(parts) > 1 else "latest"
    client = Client(stack)
    try:
        # latest: in the stack's namespace; a run named by id: in any namespace (promoting
        # a run trained on someone's branch to production is naming it by id)
        run = (client.latest_run(flow) if run_ref == "latest"
               else Client(client.stack, namespace=None).run(run_ref))
    except RunNotFoundError as exc:
        flows = client.flows()
        raise ModelRefError(
            f"model reference {ref!r}: {exc.message}",
            hint=exc.hint or f"flows with runs: {', '.join(flows) or 'none'} (lamina runs)",
        ) from None
    if run.flow != flow:
        raise ModelRefError(f"model reference {ref!r}: run {run.id} belongs to flow "
                            f"{run.flow!r}, not {flow!r}", hint=f"use {run.flow}/{run.id}/STEP")
    if run.status != "succeeded":
        raise ModelRefError(f"model reference {ref!r}: run {run.id} did not succeed "
                            f"({run.status})", hint=f"lamina show {run.id}")
    step = parts[2] if len(parts) == 3 else run.steps[-1]
    try:
        result = run[step]
    except RunNotFoundError as exc:
        raise ModelRefError(f"model reference {ref!r}: {exc.message}", hint=exc.hint) from None
    resolved = f"{flow}/{run.id}/{step}"
    if len(result.tasks) != 1:
        raise ModelNotServableError(
            f"{resolved} is a foreach step with {len(result.tasks)} results, not one model",
            hint="serve the step that picks one model (e.g. the best), or FLOW/RUN/STEP of it",
        )
    task = result.task
    _check_recorded_type(task.ref, resolved, run.id, run.steps)  # before loading a byte
    value = task.value
    if not isinstance(value, Model):
        raise ModelNotServableError(
            f"{resolved} returned a {type(value).__module__}.{type(value).__name__}, "
            "not a lamina.serving.Model",
            hint="return Model(estimator, schema=Schema.infer(X, y)) from the step "
            f"(steps of run {run.id}: {', '.join(run.steps)})",
        )
    return LoadedModel(resolved, value, task.ref)


#: The type a servable result is recorded with (ArtifactRef.type).
MODEL_TYPE = f"{Model.__module__}.{Model.__qualname__}"


def _check_recorded_type(stored: Any, what: str, run_id: str = "",
                         steps: Any = ()) -> None:
    """Refuse a result not recorded as a :class:`Model` before it is loaded: loading a
    pickle runs its code, so the server reads nothing it would not serve."""
    if stored.type == MODEL_TYPE:
        return
    raise ModelNotServableError(
        f"{what} is recorded as a {stored.type or 'value of unknown type'}, not a "
        f"lamina.serving.Model (stored with {stored.serializer!r}), so it is not loaded",
        hint="return Model(estimator, schema=Schema.infer(X, y)) from the step"
        + (f" (steps of run {run_id}: {', '.join(steps)})" if run_id else ""),
    )


def load_artifact(datastore_url: str, artifact: dict[str, Any], *, ref: str = "") -> Model:
    """Load a :class:`Model` straight from a datastore by artifact reference (the dict of
    :class:`lamina.records.ArtifactRef`): what a model server in a cluster does, with only
    the datastore reachable. The content hash is checked on read."""
    from lamina.records import ArtifactRef
    from lamina.stack import Stack

    stored = ArtifactRef.from_dict(artifact)
    _check_recorded_type(stored, ref or artifact["key"][:12])  # before loading a byte
    stack = Stack.for_datastore_url(datastore_url)
    value = stack.artifacts.load(stored, name=ref or artifact["key"])
    if not isinstance(value, Model):
        raise ModelNotServableError(
            f"artifact {artifact['key'][:12]} ({ref or 'no reference'}) in {datastore_url} is a "
            f"{type(value).__name__}, not a lamina.serving.Model",
            hint="point the model settings at a step that returns Model(...)",
        )
    return value

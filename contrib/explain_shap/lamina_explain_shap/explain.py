"""SHAP explanations of a lamina :class:`~lamina.sdk.Model` whose object is a tree or a
linear scikit-learn-style estimator.

* linear (an estimator with ``coef_`` and ``intercept_``: ``LinearRegression``, ``Ridge``,
  ``LogisticRegression``...): ``shap.LinearExplainer`` on a background (the configured
  data set, else the zero point). A classifier is explained in log-odds: the output is
  its ``decision_function``.
* tree (what ``shap.TreeExplainer`` takes: scikit-learn's forests and gradient boosting,
  XGBoost, LightGBM, CatBoost): exact tree SHAP. A random forest classifier is explained
  in probability (``predict_proba`` of a class); a gradient-boosting classifier in
  log-odds (``decision_function``).

For every row, ``base_value + sum(shap_values) == output`` (SHAP's additivity), which the
answer carries so a caller can check it.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import Model, PayloadError, ServingError


@attrs.frozen
class Explanation:
    """SHAP values of a batch.

    :param features: the input names, in the order of the values' columns.
    :param values: ``[rows, features]`` SHAP values.
    :param base_values: ``[rows]`` the expected output over the background.
    :param output: ``[rows]`` the model output explained (``base + sum(values)``).
    :param output_name: which output that is (``predict``, ``decision_function``,
        ``predict_proba[:, 1]``).
    :param explainer: ``tree`` or ``linear``.
    """

    features: list[str]
    values: Any
    base_values: Any
    output: Any
    output_name: str
    explainer: str

    def to_json(self) -> dict[str, Any]:
        """The V2-style answer of ``POST /v2/models/{name}/explain``."""
        rows, width = self.values.shape

        def tensor(name: str, data: Any, shape: list[int]) -> dict[str, Any]:
            return {"name": name, "datatype": "FP64", "shape": shape,
                    "data": [float(v) for v in data.ravel()]}

        return {
            "outputs": [tensor("shap_values", self.values, [rows, width]),
                        tensor("base_values", self.base_values, [rows]),
                        tensor("output", self.output, [rows])],
            "explanation": {"features": self.features, "explainer": self.explainer,
                            "output": self.output_name},
        }


class Explainer:
    """A SHAP explainer for one model, built once and reused for every request.

    :param model: the lamina model (its ``obj`` is the estimator).
    :param background: rows ``[N, F]`` the base value is the expected output over (linear
        models; tree models use the trees' own training cover when None).
    :param class_index: for a classifier, the class whose output is explained (default:
        the last, i.e. the positive class of a binary classifier).
    :raises ServingError: the model is neither a tree nor a linear model.
    """

    def __init__(self, model: Model, *, background: Any = None, class_index: int | None = None
                 ) -> None:
        import numpy as np

        if model.input == "dict":
            raise ServingError("explanations need a model taking one array or frame of "
                               "features (Model(input='array' or 'frame'))")
        self.model = model
        self.features = [f.name for f in model.schema.inputs]
        if model.schema.matrix_form and len(self.features) == 1:
            width = int(np.prod(model.schema.inputs[0].shape or (1,)))
            self.features = [f"{self.features[0]}[{i}]" for i in range(width)]
        obj = model.obj
        classes = getattr(obj, "classes_", None)
        self.class_index = (len(classes) - 1 if classes is not None and class_index is None
                            else class_index or 0)
        if classes is not None and not 0 <= self.class_index < len(classes):
            raise ServingError(f"class_index {self.class_index} is out of range: "
                               f"{type(obj).__name__} has {len(classes)} classes",
                               hint="[plugins.explain_shap] class_index = 0.."
                               f"{len(classes) - 1}, or -1 for the last")
        self.kind, self.explainer, self.output_name, self.output_fn = self._build(
            obj, background)

    def _build(self, obj: Any, background: Any) -> tuple[str, Any, str, Any]:
        import numpy as np

        shap = _import_shap()
        name = type(obj).__name__
        k = self.class_index
        if hasattr(obj, "coef_") and hasattr(obj, "intercept_"):
            coef = np.atleast_2d(np.asarray(obj.coef_, dtype=float))
            intercept = np.atleast_1d(np.asarray(obj.intercept_, dtype=float))
            row = 0 if coef.shape[0] == 1 else k
            if background is None:
                background = np.zeros((1, coef.shape[1]))
            rows = np.asarray(background, dtype=float)
            # every background row counts (shap's default masker samples 100 of them)
            explainer = shap.LinearExplainer(
                (coef[row], intercept[row]),
                shap.maskers.Independent(rows, max_samples=max(len(rows), 1)))
            if hasattr(obj, "decision_function"):
                def fn(x: Any) -> Any:
                    out = np.asarray(obj.decision_function(x), dtype=float)
                    return out if out.ndim == 1 else out[:, k]
                return "linear", explainer, "decision_function", fn
            return "linear", explainer, "predict", lambda x: _column(obj.predict(x), k)
        try:
            explainer = shap.TreeExplainer(obj)
        except Exception as exc:
            raise ServingError(
                f"{name} is neither a linear model (coef_, intercept_) nor a tree model SHAP "
                f"can explain ({str(exc).splitlines()[0][:200]})",
                hint="explanations cover scikit-learn linear models and tree ensembles "
                "(and XGBoost, LightGBM, CatBoost)") from None
        if hasattr(obj, "predict_proba") and explainer.model.model_output == "raw" \
                and hasattr(obj, "decision_function"):
            def raw(x: Any) -> Any:
                out = np.asarray(obj.decision_function(x), dtype=float)
                return out if out.ndim == 1 else out[:, k]
            return "tree", explainer, "decision_function", raw
        if hasattr(obj, "predict_proba"):
            return ("tree", explainer, f"predict_proba[:, {k}]",
                    lambda x: np.asarray(obj.predict_proba(x), dtype=float)[:, k])
        return "tree", explainer, "predict", lambda x: _column(obj.predict(x), k)

    def explain(self, x: Any) -> Explanation:
        """SHAP values of the rows ``x`` (what the model's predict function takes)."""
        import numpy as np

        raw = self.explainer.shap_values(x)
        values = np.asarray(raw[self.class_index] if isinstance(raw, list) else raw, dtype=float)
        if values.ndim == 3:                       # [rows, features, classes]
            values = values[:, :, self.class_index]
        base = np.asarray(self.explainer.expected_value, dtype=float)
        if base.ndim and base.size > 1:
            base = base[self.class_index]
        rows = values.shape[0]
        output = np.asarray(self.output_fn(x), dtype=float).reshape(rows)
        return Explanation(
            features=list(self.features), values=values,
            base_values=np.full(rows, float(base.reshape(-1)[0]) if base.ndim else float(base)),
            output=output, output_name=self.output_name, explainer=self.kind)

    def handle(self, x: Any, request: dict[str, Any]) -> dict[str, Any]:
        """The server's handler: explain the request's rows."""
        if len(x) > 10_000:
            raise PayloadError(f"explain takes at most 10000 rows per request, got {len(x)}",
                               field="inputs")
        return self.explain(x).to_json()


def _import_shap() -> Any:
    """shap, without the deprecation notices its plotting module's import prints (matplotlib
    colormap calls): a server's log and a CLI's output are ours."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap
    return shap


def _column(values: Any, k: int) -> Any:
    import numpy as np

    out = np.asarray(values, dtype=float)
    return out if out.ndim == 1 else out[:, k]


def global_importance(explainer: Explainer, x: Any) -> list[tuple[str, float]]:
    """Mean absolute SHAP value per feature over the rows ``x``, most important first."""
    import numpy as np

    values = explainer.explain(x).values
    mean = np.abs(values).mean(axis=0)
    return sorted(zip(explainer.features, (float(v) for v in mean), strict=True),
                  key=lambda kv: -kv[1])

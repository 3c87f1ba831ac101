"""A small scikit-learn flow for the serving tests: a servable model and a step that is not."""

from __future__ import annotations

from typing import Any

from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("iris")

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@flow.step
def data() -> dict[str, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return {"X": X, "y": y}


@flow.step
def raw_model(data: dict[str, Any], C: float = 1.0) -> Any:
    """A bare estimator: not servable (no schema)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000).fit(data["X"], data["y"])


@flow.step
def model(raw_model: Any, data: dict[str, Any]) -> Model:
    schema = Schema.infer(data["X"], raw_model.predict(data["X"][:5]), input_names=FEATURES,
                          output_names=["species"])
    return Model(raw_model, schema=schema)

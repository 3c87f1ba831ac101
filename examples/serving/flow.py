"""Serving example: train a classifier, return it as a servable Model, serve it, A/B it.

    lamina run examples/serving/flow.py
    lamina run examples/serving/flow.py --set C=0.05          # a second model version
    lamina serve serving_example                              # the latest run, on :8080
    lamina serve --variant a=serving_example/RUN_A/model:80 \\
                 --variant b=serving_example/RUN_B/model:20 --sticky-key user-id
    lamina ab report serving_example                          # once outcomes are logged
"""

from __future__ import annotations

from typing import Any

from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("serving_example")


@flow.step
def data() -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return {"X": bunch.data, "y": bunch.target,
            "features": [n.replace(" ", "_") for n in bunch.feature_names]}


@flow.step
def model(data: dict[str, Any], C: float = 1.0) -> Model:
    """The model with the schema of its training data: the server enforces it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    clf.fit(data["X"], data["y"])
    schema = Schema.infer(data["X"], clf.predict(data["X"][:5]), input_names=data["features"],
                          output_names=["label"])
    return Model(clf, schema=schema)

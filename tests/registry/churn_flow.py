"""A small churn model for the registry tests: a logistic regression on three numeric
features and a segment, trained on synthetic data, returned as a servable Model; with
``broken=True`` the model ignores the features (a deliberately broken version)."""

from __future__ import annotations

from typing import Any

from lamina import Flow, current
from lamina.serving import Model, Schema

flow = Flow("churn")

FEATURES = ["tenure", "spend", "calls"]


def make_data(n: int = 4000, seed: int = 0) -> Any:
    """Synthetic customers: churn is likelier with short tenure and many support calls."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 10, n)
    spend = rng.normal(50, 15, n)
    calls = rng.poisson(2, n).astype(float)
    logit = 1.5 - 0.6 * tenure + 0.5 * calls + 0.01 * (spend - 50)
    churn = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    segment = np.where(spend > 60, "premium", np.where(spend > 40, "standard", "basic"))
    return pd.DataFrame({"tenure": tenure, "spend": spend, "calls": calls,
                         "segment": segment, "churn": churn})


class Constant:
    """A broken estimator: predicts the majority class whatever the input."""

    def fit(self, X: Any, y: Any) -> Constant:
        import numpy as np

        self.value = int(np.bincount(y).argmax())
        return self

    def predict(self, X: Any) -> Any:
        import numpy as np

        return np.full(len(X), self.value)

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        p = np.full(len(X), 0.5)
        return np.column_stack([1 - p, p])


@flow.step
def data(n: int = 4000) -> Any:
    return make_data(n)


@flow.step
def model(data: Any, broken: bool = False, register_as: str = "") -> Model:
    from sklearn.linear_model import LogisticRegression

    X, y = data[FEATURES].to_numpy(), data["churn"].to_numpy()
    est = Constant().fit(X, y) if broken else LogisticRegression(max_iter=1000).fit(X, y)
    if register_as:
        current.register_model(register_as, metadata={"broken": broken})
    schema = Schema.infer(X[:5], est.predict(X[:5]), input_names=FEATURES,
                          output_names=["churn"])
    return Model(est, schema=schema)

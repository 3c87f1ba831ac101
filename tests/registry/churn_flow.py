"""A small churn model for the registry tests: a logistic regression on three numeric
features, trained on synthetic customers with a segment, returned as a servable Model;
``variant`` makes deliberately broken versions."""

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


def blind_to_premium(est: Any, X: Any) -> Any:
    """A broken predict function: "no churn" for every premium customer (spend > 60)."""
    pred = est.predict(X)
    pred[X[:, 1] > 60] = 0
    return pred


@flow.step
def data(n: int = 4000) -> Any:
    return make_data(n)


@flow.step
def model(data: Any, variant: str = "good", register_as: str = "") -> Model:
    """``variant``: ``good``; ``flipped`` (trained on inverted labels: wrong everywhere,
    and more support calls lower its churn probability); ``premium_blind`` (good, but
    predicts no churn for every premium customer: fails one slice)."""
    from sklearn.linear_model import LogisticRegression

    X, y = data[FEATURES].to_numpy(), data["churn"].to_numpy()
    est = LogisticRegression(max_iter=1000).fit(X, 1 - y if variant == "flipped" else y)
    if register_as:
        current.register_model(register_as, metadata={"variant": variant})
    schema = Schema.infer(X[:5], est.predict(X[:5]), input_names=FEATURES,
                          output_names=["churn"])
    if variant == "premium_blind":
        return Model(est, schema=schema, predict=blind_to_premium)
    return Model(est, schema=schema)

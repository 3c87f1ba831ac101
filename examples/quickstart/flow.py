"""Quickstart: pick the best classifier for the breast-cancer data set scikit-learn ships.

One task per candidate model (a foreach), each trained and scored on the same split; the
best one is chosen by held-out accuracy. Run it with::

    lamina run examples/quickstart/flow.py
    lamina run examples/quickstart/flow.py --set test_size=0.3
"""

from __future__ import annotations

from typing import Any

from lamina import Flow, current

flow = Flow("quickstart")


@flow.step
def dataset(test_size: float = 0.25, seed: int = 7) -> dict[str, Any]:
    """Load the data and split it once, so every candidate sees the same rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    print(f"{len(X_train)} training rows, {len(X_test)} test rows")
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


@flow.step
def candidates() -> list[dict[str, Any]]:
    """The models to compare: one foreach task each."""
    return [
        {"family": "logistic", "C": 0.1},
        {"family": "logistic", "C": 1.0},
        {"family": "logistic", "C": 10.0},
        {"family": "forest", "max_depth": 4},
        {"family": "forest", "max_depth": 8},
        {"family": "boosting", "learning_rate": 0.1},
    ]


def build_model(candidate: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    family = candidate["family"]
    if family == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=candidate["C"], max_iter=2000))
    if family == "forest":
        return RandomForestClassifier(
            n_estimators=200, max_depth=candidate["max_depth"], random_state=seed, n_jobs=1
        )
    return HistGradientBoostingClassifier(learning_rate=candidate["learning_rate"], random_state=seed)


@flow.step(foreach="candidates")
def train(dataset: dict[str, Any], candidates: dict[str, Any], seed: int = 7) -> dict[str, Any]:
    """Fit one candidate and score it on the held-out rows."""
    model = build_model(candidates, seed)
    model.fit(dataset["X_train"], dataset["y_train"])
    accuracy = float(model.score(dataset["X_test"], dataset["y_test"]))
    current.log_metric("accuracy", accuracy)
    print(f"{candidates}: accuracy {accuracy:.4f}")
    return {"candidate": candidates, "accuracy": accuracy, "model": model}


@flow.step
def best(train: list[dict[str, Any]]) -> dict[str, Any]:
    """The most accurate candidate (the first one on a tie)."""
    winner = max(train, key=lambda result: result["accuracy"])
    current.log_metric("accuracy", winner["accuracy"])
    print(f"best: {winner['candidate']} with accuracy {winner['accuracy']:.4f}")
    return winner

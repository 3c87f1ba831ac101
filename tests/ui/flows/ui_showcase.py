"""The UI tests' flow: a foreach, a DataFrame, a card with a table, an image and a chart,
and a parameter and step output a test can fill with markup."""

import base64

import pandas as pd

from lamina import Flow, current

flow = Flow("ui_showcase")

#: a 1x1 red PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@flow.step
def countries() -> list[str]:
    return ["fi", "se", "no"]


@flow.step
def frame(note: str = "plain") -> pd.DataFrame:
    print(f"note is {note}")
    return pd.DataFrame({"country": ["fi", "se", "no"], "churn": [0.1, 0.2, 0.3]})


@flow.step(foreach="countries")
def score(frame: pd.DataFrame, countries: str, alpha: float = 0.5) -> dict:
    value = float(frame.loc[frame.country == countries, "churn"].iloc[0]) * alpha
    current.log_metric("score", value)
    return {"country": countries, "score": value}


@flow.step
def report(score: list, frame: pd.DataFrame, note: str = "plain") -> str:
    current.card.append("# Churn report\n\nNote: " + note)
    current.card.append(frame)
    current.card.append(PIXEL)
    current.card.append({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": score},
        "mark": "bar",
        "encoding": {"x": {"field": "country", "type": "nominal"},
                     "y": {"field": "score", "type": "quantitative"}},
    })
    print("report for", note)
    return note

"""A flow that fails in production and is finished on the laptop: ``total`` fails while
the file ``outage`` names exists; ``square`` counts its executions in ``marks``."""

import os

from lamina import Flow

flow = Flow("backhome")


@flow.step
def numbers(n: int = 6) -> list[int]:
    return list(range(n))


@flow.step(foreach="numbers")
def square(numbers: int, marks: str = "") -> int:
    if marks:
        with open(marks, "a") as f:
            f.write(f"{numbers}\n")
    return numbers * numbers


@flow.step
def total(square: list[int], outage: str = "", scale: float = 1.0) -> float:
    if outage and os.path.exists(outage):
        raise RuntimeError(f"production outage ({outage} exists)")
    return sum(square) * scale

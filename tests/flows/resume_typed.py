"""A flow whose float parameter is given as ``0`` on the command line; ``check`` fails
while the file ``flag`` names exists."""

import os

from lamina import Flow

flow = Flow("typed")


@flow.step
def base(n: int = 4) -> list[int]:
    return list(range(n))


@flow.step
def scaled(base: list[int], delay: float = 1.0) -> list[float]:
    return [b * delay for b in base]


@flow.step
def check(scaled: list[float], flag: str = "") -> float:
    if flag and os.path.exists(flag):
        raise RuntimeError("flag is set")
    return sum(scaled)

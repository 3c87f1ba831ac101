"""A step that fails while a flag file exists: fix the "bug" by deleting the flag, then
resume."""

import os

from lamina import Flow

flow = Flow("flaky")


@flow.step
def prepare(runs: str = "runs.txt") -> list[int]:
    with open(runs, "a") as f:
        f.write("prepare\n")
    return [1, 2, 3]


@flow.step(foreach="prepare")
def square(prepare: int, flag: str = "broken.flag", runs: str = "runs.txt") -> int:
    with open(runs, "a") as f:
        f.write(f"square {prepare}\n")
    if prepare == 2 and os.path.exists(flag):
        raise ValueError(f"element {prepare} is broken")
    return prepare * prepare


@flow.step
def total(square: list[int]) -> int:
    return sum(square)

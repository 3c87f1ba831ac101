"""A foreach whose tasks take a while and leave a mark when they finish: for kill -9,
Ctrl-C and resume tests."""

import time

from lamina import Flow

flow = Flow("slow")


@flow.step
def items(n: int = 16) -> list[int]:
    return list(range(n))


@flow.step(foreach="items")
def work(items: int, marks: str = "marks.txt", pause: float = 0.3) -> int:
    time.sleep(pause)
    with open(marks, "a") as f:
        f.write(f"{items}\n")
    return items * 10


@flow.step
def total(work: list[int]) -> int:
    return sum(work)

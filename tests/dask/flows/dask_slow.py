"""A foreach of tasks that take a while: long enough to kill a worker or press Ctrl-C
while they run."""

import os
import time

from lamina import Flow

flow = Flow("dask-slow")


@flow.step
def items(n: int = 20) -> list[int]:
    return list(range(n))


@flow.step(foreach="items")
def work(items: int, delay: float = 0.3) -> tuple[int, int]:
    time.sleep(delay)
    return items * 3, os.getpid()


@flow.step
def total(work: list) -> int:
    return sum(value for value, _ in work)

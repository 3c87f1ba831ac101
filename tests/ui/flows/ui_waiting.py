"""A flow that waits for a file before its second step finishes: a live run a test controls."""

import os
import time

from lamina import Flow

flow = Flow("ui_waiting")


@flow.step
def first() -> int:
    return 1


@flow.step
def wait(first: int, gate: str = "") -> int:
    deadline = time.time() + 60
    while gate and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.1)
    return first + 1


@flow.step
def last(wait: int) -> int:
    return wait + 1

"""A step that overruns its timeout."""

import time

from lamina import Flow

flow = Flow("dask-timeout")


@flow.step(timeout=1.5)
def sleepy(seconds: float = 120.0) -> str:
    time.sleep(seconds)
    return "woke up"

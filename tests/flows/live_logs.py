"""A step that prints, then waits for a gate file (so a test can read its output while it
runs), and a step that fails on its first attempt and prints on both."""

import os
import sys
import time

from lamina import Flow, current

flow = Flow("live-logs")


@flow.step
def talk(gate: str = "") -> int:
    print("waiting for the gate")
    print("a warning", file=sys.stderr)
    deadline = time.monotonic() + 120  # never hang a test run for good
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("through the gate")
    return 1


@flow.step(retries=1)
def flaky(talk: int) -> int:
    print(f"attempt {current.attempt}")
    if current.attempt == 1:
        raise RuntimeError("first attempt fails")
    return talk + 1

"""Two tasks that can only finish together: each waits until the other has started, then
both print, log a metric and read ``current`` while the other one runs."""

import os
import sys
import time
from pathlib import Path

from lamina import Flow, current

flow = Flow("dask-together")


@flow.step
def names() -> list[str]:
    return ["a", "b"]


@flow.step(foreach="names")
def meet(names: str, barrier: str = "", lines: int = 40) -> dict:
    started = time.time()
    here = Path(barrier)
    (here / f"{names}.started").write_text(str(os.getpid()))
    other = "b" if names == "a" else "a"
    deadline = time.monotonic() + 30
    while not (here / f"{other}.started").exists():  # a barrier across the two tasks
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {names}: task {other} did not start within 30 s")
        time.sleep(0.01)
    seen = []
    for i in range(lines):  # interleaved with the other task's prints
        print(f"{names} line {i}")
        seen.append((current.run_id, current.step, current.index))
        time.sleep(0.002)
    print(f"{names} met {other}", file=sys.stderr)
    current.log_metric("index_seen", current.index)
    return {
        "name": names, "index": current.index, "run": current.run_id, "step": current.step,
        "attempt": current.attempt, "consistent": len(set(seen)) == 1 and seen[0] == (
            current.run_id, current.step, current.index),
        "pid": os.getpid(), "started": started, "finished": time.time(),
    }

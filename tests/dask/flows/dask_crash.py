"""A step that kills the process it runs in, every time (a segfault, the OOM killer)."""

import os
import signal

from lamina import Flow

flow = Flow("dask-crash")


@flow.step
def crash() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0

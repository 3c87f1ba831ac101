"""A flow whose result is a numpy array, for ``lamina get``."""

from __future__ import annotations

from lamina import Flow

flow = Flow("client-array")


@flow.step
def grid(rows: int = 3, cols: int = 4):
    import numpy as np

    return np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) / 8

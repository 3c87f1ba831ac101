"""A step that asks for a GPU, and one that asks for more GPUs than any worker has."""

import os

from lamina import Flow

flow = Flow("dask-gpu")


@flow.step(gpu=1, memory=512)
def on_gpu() -> int:
    return os.getpid()


@flow.step(gpu=1)
def on_gpu_too(on_gpu: int) -> tuple[int, int]:
    return on_gpu, os.getpid()

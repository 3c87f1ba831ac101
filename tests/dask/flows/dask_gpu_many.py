"""A step asking for more GPUs than any worker of the cluster offers."""

from lamina import Flow

flow = Flow("dask-gpu-many")


@flow.step(gpu=8)
def greedy() -> int:
    return 1

"""Only one step goes to Dask (compute="dask"); the others run on the stack's own compute."""

import os

from lamina import Flow

flow = Flow("dask-mixed")


@flow.step
def items() -> list[int]:
    return [1, 2, 3, 4]


@flow.step(foreach="items", compute="dask")
def remote(items: int) -> tuple[int, int]:
    return items + 100, os.getpid()


@flow.step
def gather(remote: list) -> tuple[list[int], int]:
    return [value for value, _ in remote], os.getpid()

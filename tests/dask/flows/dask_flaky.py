"""Fails on its first attempt, succeeds on the retry."""

from lamina import Flow, current

flow = Flow("dask-flaky")


@flow.step
def items() -> list[int]:
    return [1, 2]


@flow.step(foreach="items", retries=1)
def work(items: int) -> tuple[int, int]:
    if current.attempt == 1:
        raise RuntimeError(f"attempt {current.attempt} of {items} fails")
    return items, current.attempt

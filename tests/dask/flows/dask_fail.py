"""One foreach task raises; every task prints."""

from lamina import Flow

flow = Flow("dask-fail")


@flow.step
def items() -> list[int]:
    return [1, 2, 3]


def check(value: int) -> int:
    if value == 2:
        raise ValueError(f"element {value} is broken")
    return value


@flow.step(foreach="items")
def work(items: int) -> int:
    print(f"working on {items}")
    return check(items) * 10

"""A foreach of 250 tasks: the task table is paged."""

from lamina import Flow

flow = Flow("ui_wide")


@flow.step
def items() -> list[int]:
    return list(range(250))


@flow.step(foreach="items")
def square(items: int) -> int:
    return items * items

"""The smallest flow with a fan-out, for many runs at once: 1 + 2 + 1 tasks."""

from lamina import Flow

flow = Flow("pgtiny")


@flow.step
def items(seed: int = 0) -> list[int]:
    return [seed, seed + 1]


@flow.step(foreach="items")
def double(items: int) -> int:
    return 2 * items


@flow.step
def total(double: list[int]) -> int:
    return sum(double)

"""A wide foreach of cheap tasks: what a big fan-out costs per task."""

from lamina import Flow

flow = Flow("dask-wide")


@flow.step
def items(n: int = 1000) -> list[int]:
    return list(range(n))


@flow.step(foreach="items")
def work(items: int) -> dict:
    return {"i": items, "square": items * items, "text": f"item-{items}"}


@flow.step
def total(work: list[dict]) -> int:
    return sum(w["square"] for w in work)

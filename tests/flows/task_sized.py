"""A flow whose foreach writes results of a chosen size (for a size-limited datastore)."""

from lamina import Flow, current

flow = Flow("task-sized")


@flow.step
def numbers(n: int = 3) -> list[int]:
    print(f"numbers of run {current.run_id}")
    return list(range(n))


@flow.step(foreach="numbers")
def blob(numbers: int, size: int = 10) -> bytes:
    return bytes([65 + numbers]) * (size * (numbers + 1))


@flow.step
def total(blob: list[bytes]) -> int:
    return sum(len(b) for b in blob)

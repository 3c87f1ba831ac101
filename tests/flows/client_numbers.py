"""Numbers, squared one task each (a foreach), then summed: the Client and CLI tests' flow.

``fail_at`` makes the square of that number raise, for failed runs and resume.
"""

from __future__ import annotations

from lamina import Flow, current

flow = Flow("client-numbers")


@flow.step
def numbers(n: int = 3) -> list[int]:
    values = [(i * 7) % 10 for i in range(1, n + 1)]  # 7, 4, 1, 8, ...: not sorted
    print(f"made {len(values)} numbers")
    return values


@flow.step(foreach="numbers")
def square(numbers: int, fail_at: int = -1) -> int:
    if numbers == fail_at:
        raise ValueError(f"refusing to square {numbers}")
    current.log_metric("square", numbers * numbers)
    return numbers * numbers


@flow.step
def total(square: list[int]) -> int:
    result = sum(square)
    current.log_metric("total", result)
    print(f"total is {result}")
    return result

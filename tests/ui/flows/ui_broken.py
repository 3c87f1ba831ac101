"""A flow whose last step fails after one retry (two attempts, each with its own log)."""

from lamina import Flow, current

flow = Flow("ui_broken")


@flow.step
def prepare() -> int:
    return 41


@flow.step(retries=1)
def explode(prepare: int) -> int:
    print(f"attempt {current.attempt} starting")
    raise ValueError(f"the answer was {prepare}, not 42 (attempt {current.attempt})")

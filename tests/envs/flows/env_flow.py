"""A step with its own environment (tabulate, which lamina's environment lacks) between
two steps that run in lamina's own."""

from lamina import Env, Flow

flow = Flow("env-demo")


@flow.step
def rows(n: int = 3) -> list[int]:
    return list(range(n))


@flow.step(foreach="rows", env=Env(pip=["tabulate>=0.9"]))
def table(rows: int) -> str:
    import sys

    import tabulate

    return f"{tabulate.tabulate([[rows, rows * rows]], tablefmt='plain')}|{sys.prefix}"


@flow.step
def report(table: list[str], fail: bool = False) -> dict:
    import importlib.util

    if fail:
        raise RuntimeError("asked to fail")
    return {
        "tables": [t.split("|")[0] for t in table],
        "prefixes": sorted({t.split("|")[1] for t in table}),
        "here_has_tabulate": importlib.util.find_spec("tabulate") is not None,
    }

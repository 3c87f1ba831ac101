"""A project whose stack deploys to Argo, and the flows the Argo tests compile."""

from __future__ import annotations

import textwrap
from pathlib import Path

FLOW = '''
from lamina import EventTrigger, Flow

flow = Flow("argo_shop", schedule="0 3 * * 1-5", trigger_on_finish="ingest",
            trigger=EventTrigger("orders-ready", params={"path": "uri"}))


@flow.step
def countries(path: str = "data/orders.parquet") -> list[str]:
    return ["fi", "se", "no"]


@flow.step(foreach="countries", retries=2, timeout=600, cpu=0.5, memory=512, gpu=1)
def model(countries: str, alpha: float = 0.1) -> str:
    return f"{countries}:{alpha}"


@flow.step
def best(model: list) -> str:
    return max(model)
'''

PLAIN_FLOW = '''
from lamina import Flow

flow = Flow("argo_plain")


@flow.step
def one() -> int:
    return 1
'''


def write_project(root: Path, *, project: str = "", **options: object) -> Path:
    """``root`` with lamina.toml (stack ``argo``) and the flows; returns the flow file."""
    root.mkdir(parents=True, exist_ok=True)
    table = {"image": "registry.example/ml:2026-12", "namespace": "ml",
             "service_account": "lamina-runner", "env_from_secrets": ["lamina-datastore"],
             "secret_env": {"WANDB_API_KEY": "wandb/api-key"},
             "event_url": "http://lamina-eventsource-svc.argo-events:12000/lamina", **options}
    lines = [f'project = "{project}"'] if project else []
    lines += ["[stacks.argo]", 'datastore = "file://.lamina"',
              "[stacks.argo.orchestrator]", 'plugin = "argo"']
    for key, value in table.items():
        lines.append(f"{key} = {_toml(value)}")
    (root / "lamina.toml").write_text("\n".join(lines) + "\n")
    (root / "flow.py").write_text(textwrap.dedent(FLOW))
    (root / "plain.py").write_text(textwrap.dedent(PLAIN_FLOW))
    return root / "flow.py"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'{k} = {_toml(v)}' for k, v in value.items()) + " }"
    return str(value)

"""Every piece of user text the CLI prints is shown as written (defect 5 of the hardening
trials): Rich markup in a tag, a parameter, a metric name or an error is not rendered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BOLD = "[bold red]x[/bold red]"
LINK = "[link=https://evil.example/]click[/link]"
FLOW = f'''from lamina import Flow, current

flow = Flow("markup")


@flow.step
def measured(label: str = "plain") -> str:
    current.log_metric({BOLD!r}, 1.0)
    return label


@flow.step
def broken(measured):
    raise ValueError({LINK!r} + " " + measured)
'''


def _lamina(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root, capture_output=True,
                          text=True, timeout=180, env={**__import__("os").environ, "NO_COLOR": "1",
                                                       "COLUMNS": "300"})


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("markup")
    (root / "flow.py").write_text(FLOW)
    ran = _lamina(root, "run", "flow.py", "--tag", BOLD, "--tag", LINK, "--set", f"label={BOLD}")
    assert ran.returncode != 0  # the second step fails, on purpose
    runs = json.loads(_lamina(root, "runs", "--json").stdout)
    return root, runs[0]["run_id"]


def test_runs_lists_tags_and_params_literally(marked) -> None:
    root, _ = marked
    out = _lamina(root, "runs").stdout
    assert BOLD in out and LINK in out


def test_show_run_prints_tags_params_and_the_error_literally(marked) -> None:
    root, run_id = marked
    out = _lamina(root, "show", run_id).stdout
    assert f"tags {BOLD}, {LINK}" in out
    assert f"label={BOLD!r}" in out
    assert f"ValueError: {LINK} {BOLD}" in out


def test_show_task_prints_metric_names_and_the_error_literally(marked) -> None:
    root, run_id = marked
    assert f"metrics {BOLD}=1" in _lamina(root, "show", f"{run_id}/measured/0").stdout
    assert f"ValueError: {LINK} {BOLD}" in _lamina(root, "show", f"{run_id}/broken/0").stdout

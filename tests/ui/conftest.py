"""Fixtures of the UI tests: one project with real runs made by real flows, one ``lamina
ui`` server over it and one headless Chromium, shared by the module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_util import XSS, browser, run_flow, ui_server


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project with: two runs of the showcase flow (the second with another parameter,
    an edited flow file, a tag and a step output full of markup) and a failed run."""
    project = tmp_path_factory.mktemp("ui_project")
    first = run_flow(project, "ui_showcase.py", "--set", "alpha=0.5", "--tag", "baseline")
    flow_file = project / "ui_showcase.py"
    flow_file.write_text(flow_file.read_text().replace(
        "return note\n", "return note  # edited for the second run\n"))
    second = run_flow(project, "ui_showcase.py", "--set", "alpha=0.7", "--set", f"note={XSS}",
                      "--tag", XSS)
    broken = run_flow(project, "ui_broken.py", check=False)
    obj = run_flow(project, "ui_object.py")
    wide = run_flow(project, "ui_wide.py")
    monitor = run_flow(project, "ui_monitor.py", "--tag", "monitoring",
                       "--tag", "monitor:churn-model")
    return {"path": project, "first": first, "second": second, "broken": broken,
            "monitor": monitor, "object": obj, "wide": wide}


@pytest.fixture(scope="session")
def server(ui_project: dict[str, Any]) -> Iterator[str]:
    with ui_server(ui_project["path"]) as (base, _proc):
        yield base


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; collects console errors and writes a screenshot at the end
    into the test's tmp dir (``page.shot(name)`` for more)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.console_errors = errors

    def shot(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    pg.shot = shot
    yield pg
    try:
        shot(request.node.name)
    finally:
        context.close()

"""``lamina card`` writes a standalone HTML file that draws its chart with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ui_util import lamina

pytestmark = pytest.mark.slow


def test_card_file_opens_offline_with_the_chart_drawn(ui_project: dict, chromium: Any,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "card.html"
    proc = lamina(ui_project["path"], "card", f"{ui_project['first']}/report", "-o", str(out))
    assert "wrote" in proc.stdout and "4 items" in proc.stdout
    html = out.read_text()
    assert "http://" not in html.split("<script>")[0]  # nothing fetched by the document
    context = chromium.new_context(offline=True)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_selector(".lamina-vega svg", timeout=15000)
    assert page.locator(".lamina-vega svg path[aria-roledescription='bar']").count() == 3
    assert page.locator("table.lamina-card-table tbody tr").count() == 3
    assert page.locator("h1").inner_text() == "Churn report"
    page.screenshot(path=str(tmp_path / "card.png"), full_page=True)
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []
    assert not errors
    context.close()


def test_card_of_a_task_without_one_says_so(ui_project: dict) -> None:
    proc = lamina(ui_project["path"], "card", f"{ui_project['first']}/frame", "-o", "x.html",
                  check=False)
    assert proc.returncode == 1
    assert "has no card" in proc.stderr and "current.card" in proc.stderr


def test_card_of_a_foreach_step_asks_for_the_index(ui_project: dict) -> None:
    proc = lamina(ui_project["path"], "card", f"{ui_project['first']}/score", check=False)
    assert proc.returncode == 1
    assert "has 3 tasks" in proc.stderr and f"{ui_project['first']}/score/0" in proc.stderr

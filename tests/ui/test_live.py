"""A run still going: its page updates in the browser without a reload."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ui_util import FLOWS, env, run_ids, ui_server

pytestmark = pytest.mark.slow


def test_live_run_recolours_the_dag_without_reload(page: Any, tmp_path: Path) -> None:
    project = tmp_path / "live"
    project.mkdir()
    shutil.copyfile(FLOWS / "ui_waiting.py", project / "ui_waiting.py")
    gate = tmp_path / "gate"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", "ui_waiting.py", "--set", f"gate={gate}"],
        cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (project / ".lamina").exists() or not run_ids(project):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.time() < deadline, "the run did not start"
            time.sleep(0.2)
        run = run_ids(project)[0]
        with ui_server(project) as (base, _):
            page.goto(f"{base}/runs/{run}")
            assert page.locator("#run-status").inner_text() == "running"
            # the first step finishes while the gate is shut; the waiting one is running
            page.wait_for_selector('svg.dag g.step[data-step="first"][data-status="succeeded"]',
                                   timeout=30000)
            assert page.locator('svg.dag g.step[data-step="wait"]').get_attribute(
                "data-status") == "running"
            assert page.locator('svg.dag g.step[data-step="last"]').get_attribute(
                "data-status") == "pending"
            page.evaluate("window.__same_page = true")
            page.shot("live-running")
            runs_page = page.context.new_page()
            runs_page.goto(base + "/")
            row = runs_page.locator(f'#run-rows tr[data-run="{run}"]')
            assert row.get_attribute("data-status") == "running"
            runs_page.evaluate("window.__same_page = true")
            task_page = page.context.new_page()
            task_page.goto(f"{base}/runs/{run}/steps/wait/0")
            assert task_page.locator("#task-status").inner_text() == "not finished"
            gate.write_text("open")
            page.wait_for_selector('svg.dag g.step[data-step="last"][data-status="succeeded"]',
                                   timeout=30000)
            page.wait_for_function(
                "document.getElementById('run-status').textContent === 'succeeded'",
                timeout=30000)
            assert page.evaluate("window.__same_page") is True  # no reload happened
            assert page.locator('svg.dag g.step[data-step="wait"]').get_attribute(
                "data-status") == "succeeded"
            assert "1/1 done" in page.locator('#steps tr[data-step="wait"]').inner_text()
            # the runs list refreshes its rows by itself too
            runs_page.wait_for_selector(f'#run-rows tr[data-run="{run}"][data-status="succeeded"]',
                                        timeout=30000)
            assert runs_page.evaluate("window.__same_page") is True
            # the waiting task's page reloads itself once the task has its outcome
            task_page.wait_for_selector("#task-status.status-succeeded", timeout=30000)
            assert task_page.locator("#logs details.attempt").count() == 1
        assert proc.wait(timeout=60) == 0
    finally:
        gate.write_text("open")
        if proc.poll() is None:
            proc.kill()
            proc.wait()

"""The UI over a stack whose datastore is S3 (the lamina-datastore-s3 plugin on a moto
server on loopback): it reads only through the public Client, so the pages, previews and
cards are the same as on the local folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "s3"))
sys.path.insert(0, str(TESTS))
from envs_util import running  # noqa: E402
from s3_util import MotoServer, clean_aws_env, stack_toml  # noqa: E402
from ui_util import run_flow, ui_server  # noqa: E402

pytestmark = pytest.mark.slow


def test_run_task_preview_and_card_from_an_s3_datastore(page: Any, tmp_path: Path) -> None:
    pytest.importorskip("lamina_datastore_s3")
    with running(MotoServer(tmp_path / "moto")) as server:
        bucket = server.make_bucket()
        project = tmp_path / "project"
        project.mkdir()
        (project / "lamina.toml").write_text(stack_toml(bucket, server.endpoint))
        environ = {**clean_aws_env(tmp_path), **server.env()}
        run = run_flow(project, "ui_showcase.py", environ=environ)
        keys = [o["Key"] for o in server.client().list_objects_v2(
            Bucket=bucket, Prefix=f"lamina/runs/{run}/cards/").get("Contents", [])]
        assert keys == [f"lamina/runs/{run}/cards/report/0.json"]  # the card is in the bucket
        with ui_server(project, environ=environ) as (base, _):
            page.goto(f"{base}/runs/{run}")
            statuses = {g.get_attribute("data-status")
                        for g in page.locator("svg.dag g.step").all()}
            assert statuses == {"succeeded"}
            page.goto(f"{base}/runs/{run}/steps/frame/0")
            head = page.locator("#artifact table.lamina-card-table").nth(1)
            assert [c.inner_text() for c in head.locator("thead th").all()] == ["country", "churn"]
            page.goto(f"{base}/runs/{run}/steps/report/0")
            page.wait_for_selector("#card .lamina-vega svg", timeout=15000)
            assert page.locator("#card table tbody tr").count() == 3

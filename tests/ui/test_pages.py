"""The UI's pages in a real browser: real runs, the real ``lamina ui`` process, Debian's
Chromium. Each test asserts on the DOM and leaves a screenshot in its tmp dir."""

from __future__ import annotations

from typing import Any

import pytest
from ui_util import XSS

pytestmark = pytest.mark.slow


def test_runs_page_lists_and_filters_runs(page: Any, server: str, ui_project: dict) -> None:
    page.goto(server + "/")
    rows = page.locator("#run-rows tr[data-run]")
    assert rows.count() == 6
    # newest first
    assert rows.nth(0).get_attribute("data-run") == ui_project["monitor"]
    assert rows.nth(1).get_attribute("data-run") == ui_project["wide"]
    page.select_option("#filter-flow", "ui_showcase")
    page.click("#filter-apply")
    page.wait_for_url("**flow=ui_showcase**")
    ids = [r.get_attribute("data-run") for r in page.locator("#run-rows tr[data-run]").all()]
    assert ids == [ui_project["second"], ui_project["first"]]
    page.select_option("#filter-status", "failed")
    page.select_option("#filter-flow", "")
    page.click("#filter-apply")
    page.wait_for_url("**status=failed**")
    ids = [r.get_attribute("data-run") for r in page.locator("#run-rows tr[data-run]").all()]
    assert ids == [ui_project["broken"]]
    page.goto(server + "/?tag=baseline")
    ids = [r.get_attribute("data-run") for r in page.locator("#run-rows tr[data-run]").all()]
    assert ids == [ui_project["first"]]
    page.goto(server + "/?sort=oldest")
    ids = [r.get_attribute("data-run") for r in page.locator("#run-rows tr[data-run]").all()]
    assert ids == [ui_project["first"], ui_project["second"], ui_project["broken"],
                   ui_project["object"], ui_project["wide"], ui_project["monitor"]]
    page.goto(server + "/?user=nobody-by-that-name")
    assert page.locator("#run-rows tr[data-run]").count() == 0
    assert "no runs match" in page.locator("#run-rows").inner_text()


def test_run_page_draws_the_dag_with_each_steps_status(page: Any, server: str,
                                                        ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}")
    steps = {g.get_attribute("data-step"): g.get_attribute("data-status")
             for g in page.locator("svg.dag g.step").all()}
    assert steps == {"countries": "succeeded", "frame": "succeeded", "score": "succeeded",
                     "report": "succeeded"}
    # edges from the graph recorded with the run
    edges = {(p.get_attribute("data-from"), p.get_attribute("data-to"))
             for p in page.locator("svg.dag path.edge").all()}
    assert edges == {("countries", "score"), ("frame", "score"), ("score", "report"),
                     ("frame", "report")}
    assert "3/3 done" in page.locator('svg.dag g.step[data-step="score"]').text_content()
    assert page.locator("#run-params").inner_text().count("alpha") == 1
    assert "0.5" in page.locator("#run-params").inner_text()
    assert page.locator("#run-tags").inner_text().strip() == "baseline"
    assert page.locator("#run-user").inner_text().strip() != ""
    page.goto(f"{server}/runs/{ui_project['broken']}")
    statuses = {g.get_attribute("data-step"): g.get_attribute("data-status")
                for g in page.locator("svg.dag g.step").all()}
    assert statuses == {"prepare": "succeeded", "explode": "failed"}
    assert page.locator("#failures").inner_text().count("ValueError") == 1


def test_step_page_pages_its_task_table(page: Any, server: str, ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}/steps/score")
    rows = page.locator("#tasks tbody tr")
    assert rows.count() == 3
    assert [r.get_attribute("data-index") for r in rows.all()] == ["0", "1", "2"]
    assert "'fi'" in rows.nth(0).inner_text() or "fi" in rows.nth(0).inner_text()
    assert page.locator("#page-info").inner_text() == "page 1 of 1"
    assert page.locator("#task-timeline rect").count() == 3  # who ran when
    # the metrics chart is drawn by the vendored vega-embed
    page.wait_for_selector("#metrics-chart svg", timeout=15000)
    assert not page.console_errors


def test_failed_step_shows_traceback_and_both_attempts_logs(page: Any, server: str,
                                                            ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['broken']}/steps/explode/0")
    assert page.locator("#task-status").inner_text() == "failed"
    assert "ValueError: the answer was 41, not 42 (attempt 2)" in page.locator("#task-error").inner_text()
    trace = page.locator("#traceback").inner_text()
    assert "Traceback" in trace and "ui_broken.py" in trace and "raise ValueError" in trace
    assert "lamina resume" in page.locator(".hint").inner_text()
    attempts = page.locator("#logs details.attempt")
    assert attempts.count() == 2
    one, two = attempts.nth(0), attempts.nth(1)
    one.locator("summary").click()
    assert "attempt 1 starting" in one.locator("pre.stdout").inner_text()
    assert "(attempt 1)" in one.locator("pre.stderr").inner_text()
    assert "attempt 2 starting" in two.locator("pre.stdout").inner_text()
    assert "(attempt 2)" in two.locator("pre.stderr").inner_text()


def test_dataframe_artifact_preview_shows_columns_rows_and_schema(page: Any, server: str,
                                                                  ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}/steps/frame/0")
    artifact = page.locator("#artifact")
    assert artifact.get_attribute("data-kind") == "table"
    tables = artifact.locator("table.lamina-card-table")
    schema, head = tables.nth(0), tables.nth(1)
    assert [c.inner_text() for c in head.locator("thead th").all()] == ["country", "churn"]
    assert head.locator("tbody tr").count() == 3
    assert "churn" in schema.inner_text() and "double" in schema.inner_text()
    assert "rows" in artifact.locator("table.kv").inner_text()
    # who read it: the three foreach tasks and the report
    assert page.locator("#read-by li").count() == 4
    # download is the stored object
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename.endswith("-frame-0.arrow")


def test_json_result_is_previewed_without_unpickling_objects(page: Any, server: str,
                                                             ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}/steps/score/1")
    artifact = page.locator("#artifact")
    assert artifact.get_attribute("data-kind") == "json"
    assert '"country": "se"' in artifact.locator("pre.preview-text").inner_text()
    assert page.locator("#unpickle").count() == 0


def test_compare_shows_changed_param_and_code_diff(page: Any, server: str,
                                                   ui_project: dict) -> None:
    page.goto(f"{server}/compare")
    page.select_option("#pick-a", ui_project["first"])
    page.select_option("#pick-b", ui_project["second"])
    page.click("#compare-go")
    page.wait_for_selector("#diff-params")
    alpha = page.locator('#diff-params tr[data-what="alpha"]')
    assert alpha.locator("td").nth(0).inner_text() == "0.5"
    assert alpha.locator("td").nth(1).inner_text() == "0.7"
    added = [d.inner_text() for d in page.locator("#diff-code div.add").all()]
    removed = [d.inner_text() for d in page.locator("#diff-code div.del").all()]
    assert any("# edited for the second run" in line for line in added)
    assert any(line.strip() == "-    return note" for line in removed)
    assert page.locator('#diff-step-code tr[data-what="report"]').count() == 1
    assert page.locator('#diff-artifacts tr[data-what="report[0]"]').count() == 1


def test_card_with_table_image_and_vega_lite_chart_renders(page: Any, server: str,
                                                           ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}/steps/report/0")
    card = page.locator("#card")
    assert card.locator("h1").inner_text() == "Churn report"
    assert [c.inner_text() for c in card.locator("table thead th").all()] == ["country", "churn"]
    image = card.locator("img.lamina-card-image")
    page.wait_for_function("document.querySelector('#card img').naturalWidth === 1")
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    page.wait_for_selector("#card .lamina-vega svg", timeout=15000)
    bars = card.locator(".lamina-vega svg path[aria-roledescription='bar']")
    assert bars.count() == 3
    assert not page.console_errors


def test_markup_in_tag_param_and_output_shows_as_text(page: Any, server: str,
                                                      ui_project: dict) -> None:
    run = ui_project["second"]
    for url in ("/", f"/runs/{run}", f"/runs/{run}/steps/report/0",
                f"/runs/{run}/steps/frame/0", f"/compare?a={ui_project['first']}&b={run}"):
        page.goto(server + url)
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("main b").count() == 0 or all(
            "bold" not in b.inner_text() for b in page.locator("main b").all()), url
        assert page.locator("main img[src='x']").count() == 0, url
    page.goto(f"{server}/runs/{run}")
    assert page.locator("#run-tags").inner_text().strip() == XSS
    assert XSS in page.locator("#run-params").inner_text()
    page.goto(f"{server}/runs/{run}/steps/report/0")
    assert XSS in page.locator("#card").inner_text()  # Markdown with raw HTML disabled
    assert XSS in page.locator("#artifact pre.preview-text").inner_text()
    page.goto(f"{server}/runs/{run}/steps/frame/0")
    assert f"note is {XSS}" in page.locator("#logs pre.stdout").first.inner_text()


def test_unknown_run_is_a_404_page_with_the_fix(page: Any, server: str) -> None:
    response = page.goto(f"{server}/runs/no-such-run")
    assert response.status == 404
    assert "no-such-run" in page.locator("#error").inner_text()


def test_code_snapshot_is_highlighted(page: Any, server: str, ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}")
    page.click("a[href$=\"/code/ui_showcase.py\"]")
    code = page.locator("#code")
    assert "def report" in code.inner_text()
    assert code.locator("span.k, span.kn").count() > 5  # keywords coloured by Pygments


def test_reports_page_links_monitoring_reports(page: Any, server: str,
                                               ui_project: dict) -> None:
    page.goto(f"{server}/reports")
    rows = page.locator("#monitoring tr[data-run]")
    assert [r.get_attribute("data-run") for r in rows.all()] == [ui_project["monitor"]]
    assert "no deployment running" in page.locator("#deployments").inner_text()
    page.click("#monitoring a.report-link")
    page.wait_for_selector("#report")
    assert page.locator("#report").inner_text() == "Drift report"
    assert page.title() != "script ran"  # served sandboxed: the report runs no script


def test_environment_lists_the_installed_packages(page: Any, server: str,
                                                  ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['first']}")
    page.click("#packages-link")
    page.wait_for_selector("#packages")
    names = {r.get_attribute("data-package").lower() for r in page.locator("#packages tr[data-package]").all()}
    assert {"pandas", "pyarrow"} <= names


def test_an_object_is_unpickled_only_when_asked(page: Any, server: str, ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['object']}/steps/fit/0")
    artifact = page.locator("#artifact")
    assert artifact.get_attribute("data-kind") == "object"
    assert "ui_object.Model" in page.locator("#preview-note").inner_text()
    assert artifact.locator("pre.preview-text").count() == 0
    page.click("#unpickle")
    page.wait_for_url("**unpickle=1")
    assert page.locator("#artifact pre.preview-text").inner_text() == "Model(alpha=0.3)"


def test_a_wide_foreach_is_paged(page: Any, server: str, ui_project: dict) -> None:
    page.goto(f"{server}/runs/{ui_project['wide']}/steps/square")
    rows = page.locator("#tasks tbody tr")
    assert rows.count() == 100
    assert page.locator("#page-info").inner_text() == "page 1 of 3"
    page.click("#next-page")
    page.wait_for_url("**page=2")
    assert rows.nth(0).get_attribute("data-index") == "100"
    page.click("#next-page")
    page.wait_for_url("**page=3")
    assert rows.count() == 50 and page.locator("#next-page").count() == 0
    assert "250 succeeded" in page.locator("#step-states").inner_text()
    assert "250/250 done" in page.goto(f"{server}/runs/{ui_project['wide']}").text()

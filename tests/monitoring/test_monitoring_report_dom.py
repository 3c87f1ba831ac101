"""What the report shows, asserted on the page as headless Chromium lays it out: number
formats of the scores, tail bars instead of tails folded into the edge bins, whole-number
bins for integer columns, and an "other" bar for categories beyond the top 12.

Chromium loads the report with a probe script appended (the report itself has none); the
probe reads the laid-out DOM (text, ``getBBox`` of the SVG bars) into an attribute, and
``--dump-dom`` hands the page back."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lamina.monitoring import analyze
from lamina.monitoring.stats import _histogram

N = 20_000
CITIES = [f"city_{i:02d}" for i in range(50)]

PROBE = """
<script>
(() => {
  const out = {scores: {}, plots: {}};
  for (const tr of document.querySelectorAll("table tbody tr")) {
    const cells = tr.querySelectorAll("td");
    if (cells.length > 2 && tr.querySelector("td.score"))
      out.scores[cells[0].textContent] = tr.querySelector("td.score").textContent;
  }
  for (const plot of document.querySelectorAll(".plot")) {
    const rect = (r) => ({cls: r.getAttribute("class"), share: +r.dataset.share,
                          h: r.getBBox().height, w: r.getBBox().width, x: r.getBBox().x,
                          title: (r.querySelector("title") || {}).textContent || ""});
    const text = (t) => ({cls: t.getAttribute("class"), text: t.textContent,
                          visible: t.getBBox().width > 0});
    out.plots[plot.id.slice(4)] = {
      rects: [...plot.querySelectorAll("rect")].map(rect),
      texts: [...plot.querySelectorAll("svg text")].map(text),
    };
  }
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();
</script>
"""


def _tables() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(7)
    weights = 1.0 / np.arange(1, 51)
    weights /= weights.sum()

    def side(shift: float) -> pa.Table:
        return pa.table({
            # whole numbers over 80 values: more than 30 bins' worth
            "age": rng.integers(18, 98, N).astype(np.int64),
            # a long right tail: the plot's range stops at the 99.5th percentile
            "amount": rng.lognormal(3, 1, N),
            # far apart: the KS p-value underflows to 0.0
            "score": rng.normal(shift, 1, N),
            "city": pa.array(rng.choice(CITIES, N, p=weights)),
        })

    return side(0.0), side(5.0)


def _probe(tmp_path: Path, page: str) -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh)")
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1280,2000", "--dump-dom",
         path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<body[^>]*data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stdout[:2000]
    return json.loads(htmllib.unescape(found[1]))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ref, cur = _tables()
    report = analyze(ref, cur)
    by_name = {c["column"]: c for c in report.columns}
    assert by_name["score"]["pvalue_adjusted"] == 0.0  # the case the format is for
    return {"report": by_name,
            "dom": _probe(tmp_path_factory.mktemp("dom"), report.to_html())}


@pytest.mark.slow
def test_scores_never_print_as_zero(page: dict[str, Any]) -> None:
    scores = page["dom"]["scores"]
    assert set(scores) == {"age", "amount", "score", "city"}
    assert scores["score"] == "< 1e-300"
    for name, text in scores.items():
        assert not re.fullmatch(r"0\.0+", text), (name, text)
        value = page["report"][name]["score"]
        if 0 < value < 1e-3:
            assert re.fullmatch(r"\d\.\d\de-\d+", text), (name, text)


@pytest.mark.slow
def test_tails_are_drawn_apart_and_labelled(page: dict[str, Any]) -> None:
    plot = page["dom"]["plots"]["amount"]
    hist = page["report"]["amount"]["histogram"]
    bins = [r for r in plot["rects"] if r["cls"].startswith("bin ")]
    tails = {r["cls"]: r for r in plot["rects"] if r["cls"].startswith("tail ")}
    assert set(tails) == {"tail below ref", "tail below cur", "tail above ref", "tail above cur"}
    # the tail bars stand apart: left of the first bin, right of the last one
    first_bin = min(r["x"] for r in bins)
    last_bin = max(r["x"] + r["w"] for r in bins)
    assert tails["tail below ref"]["x"] + tails["tail below cur"]["w"] < first_bin
    assert tails["tail above ref"]["x"] > last_bin
    # the lognormal's long right tail: about half a percent per side, drawn with a height
    assert 0.002 < tails["tail above ref"]["share"] < 0.01
    assert tails["tail above ref"]["h"] > 0
    assert tails["tail above ref"]["title"].startswith("above ")
    labels = {t["cls"]: t for t in plot["texts"]}
    assert labels["tail-label below"]["text"] == "<" and labels["tail-label below"]["visible"]
    assert labels["tail-label above"]["text"] == ">" and labels["tail-label above"]["visible"]
    # nothing folded: the edge bins hold only their own values, and all adds up to 1
    ref_bins = [r["share"] for r in bins if r["cls"] == "bin ref"]
    assert ref_bins == pytest.approx(hist["reference"], rel=1e-5)
    total = sum(ref_bins) + tails["tail below ref"]["share"] + tails["tail above ref"]["share"]
    assert total == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_integer_columns_get_whole_number_bins(page: dict[str, Any]) -> None:
    plot = page["dom"]["plots"]["age"]
    heights = [r["h"] for r in plot["rects"] if r["cls"] == "bin ref"]
    # 80 values in bins of 4: 20 bars of about the same height (a comb of 2- and 3-value
    # bins would differ by a third)
    assert len(heights) == 20
    assert max(heights) / min(heights) < 1.15
    edges = {t["cls"]: t["text"] for t in plot["texts"]}
    assert (edges["edge low"], edges["edge high"]) == ("18", "97")
    assert not [r for r in plot["rects"] if r["cls"].startswith("tail ")]  # no tail: none drawn


@pytest.mark.slow
def test_categories_beyond_twelve_are_one_other_bar(page: dict[str, Any]) -> None:
    plot = page["dom"]["plots"]["city"]
    column = page["report"]["city"]
    labels = [t["text"] for t in plot["texts"] if t["cls"] in ("cat-label", "cat other-label")]
    assert len(labels) == 13 and labels[-1] == "other (38)"
    assert labels[:12] == [f"city_{i:02d}" for i in range(12)]  # the largest, in order
    other = next(r for r in plot["rects"] if r["cls"] == "cat other ref")
    rest = sum(share for cat, share in zip(column["categories"], column["reference_share"],
                                           strict=True) if cat not in labels[:12])
    assert other["share"] == pytest.approx(rest, rel=1e-5)
    assert other["w"] > 0
    share_text = next(t["text"] for t in plot["texts"] if t["cls"] == "cat other-share")
    assert share_text.startswith(f"{rest:.1%}→")


def test_integer_bins_hold_the_same_count_of_whole_numbers() -> None:
    rng = np.random.default_rng(1)
    a = np.sort(rng.integers(0, 1000, 50_000).astype(float))
    h = _histogram(a, a.copy())
    edges = np.array(h["edges"])
    assert h["integral"] and np.all(edges % 1 == 0.5)
    assert len(set(np.diff(edges))) == 1  # every bin as wide, in whole numbers
    assert edges[0] <= a[int(a.size * 0.005)] and edges[-1] >= a[int(a.size * 0.995)]
    few = np.sort(rng.integers(0, 5, 1000).astype(float))
    assert _histogram(few, few)["edges"] == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]
    floats = np.sort(rng.normal(0, 1, 1000))
    assert not _histogram(floats, floats)["integral"]

"""The HTML report of a check suite's result: one standalone page, every user string
escaped (suite, check and slice names, details come from user files and data)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.ok{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:600}.skip{color:#777}
details{margin:.2em 0}"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _mark(passed: Any) -> str:
    if passed is None:
        return '<span class="skip">too few rows</span>'
    return '<span class="ok">pass</span>' if passed else '<span class="fail">FAIL</span>'


def render_html(result: Mapping[str, Any], *, title: str = "") -> str:
    """The report of :meth:`lamina.checks.SuiteResult.to_dict` (or a stored result)."""
    heading = title or f"Check suite {result.get('suite', '')}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f"<p>{_mark(bool(result.get('passed')))} &middot; {_e(result.get('rows'))} rows"
        + (f" &middot; model {_e(result.get('model'))}" if result.get("model") else "")
        + (f" &middot; champion {_e(result.get('champion'))}" if result.get("champion") else "")
        + "</p>",
        "<table><tr><th>check</th><th>kind</th><th>result</th><th>value</th>"
        "<th>threshold</th><th>detail</th></tr>",
    ]
    for c in result.get("checks", []):
        parts.append(
            f"<tr><td>{_e(c.get('name'))}</td><td>{_e(c.get('kind'))}</td>"
            f"<td>{_mark(c.get('passed'))}</td><td>{_e(c.get('value'))}</td>"
            f"<td>{_e(c.get('threshold'))}</td><td>{_e(c.get('detail'))}</td></tr>")
    parts.append("</table>")
    for c in result.get("checks", []):
        slices = c.get("slices") or []
        if not slices:
            continue
        parts.append(f"<details open><summary>{_e(c.get('name'))}: {len(slices)} slices"
                     "</summary><table><tr><th>slice</th><th>rows</th><th>value</th>"
                     "<th>result</th></tr>")
        for s in slices:
            parts.append(f"<tr><td>{_e(s.get('slice'))}</td><td>{_e(s.get('rows'))}</td>"
                         f"<td>{_e(s.get('value'))}</td><td>{_mark(s.get('passed'))}</td></tr>")
        parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)

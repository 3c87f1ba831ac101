"""Cards as HTML: a standalone file that opens offline (``lamina card -o f.html``) and
the inline HTML a notebook shows. The chart libraries are vendored in ``vendor/``."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamina.cards.card import Card

#: The vendored chart libraries, in load order (see vendor/LICENSES.md).
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")

#: Draws every ``div.lamina-vega`` of the page with vega-embed (no actions menu).
EMBED_SCRIPT = """
(function () {
  function draw(root) {
    (root || document).querySelectorAll("div.lamina-vega:not([data-drawn])").forEach(function (el) {
      el.setAttribute("data-drawn", "1");
      var spec = JSON.parse(el.getAttribute("data-spec"));
      vegaEmbed(el, spec, {actions: false, renderer: "svg"}).catch(function (err) {
        el.textContent = "chart error: " + err;
      });
    });
  }
  window.laminaDrawCharts = draw;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(); });
  } else { draw(); }
})();
"""

CARD_CSS = """
.lamina-card { font-family: system-ui, sans-serif; max-width: 1100px; }
.lamina-card-item { margin: 0 0 1.2em 0; }
.lamina-card-table { border-collapse: collapse; font-size: 0.9em; }
.lamina-card-table th, .lamina-card-table td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
.lamina-card-table th { background: #f3f5f7; }
.lamina-card-image { max-width: 100%; }
.lamina-muted { color: #667; font-size: 0.85em; }
"""


@cache
def vendor_script(name: str) -> str:
    """The text of a vendored script (``vega.min.js``, ...)."""
    return resources.files("lamina.cards").joinpath("vendor", name).read_text(encoding="utf-8")


def _scripts(card: Card) -> str:
    if not card.has_charts:
        return ""
    # "</script" cannot occur inside a script element: escape it as JSON would
    libs = "".join(
        "<script>" + vendor_script(n).replace("</script", "<\\/script") + "</script>"
        for n in VENDOR_SCRIPTS
    )
    return libs + f"<script>{EMBED_SCRIPT}</script>"


def standalone_html(card: Card, *, title: str = "") -> str:
    """A whole HTML document showing ``card``; needs no network to open."""
    name = html.escape(title or card.title or "lamina card")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{name}</title><style>{CARD_CSS}</style></head>"
        f"<body>{card.html_fragment()}{_scripts(card)}</body></html>"
    )


def inline_html(card: Card) -> str:
    """The HTML a notebook displays for ``card`` (scripts inlined when it has charts)."""
    return f"<style>{CARD_CSS}</style>{card.html_fragment()}{_scripts(card)}"

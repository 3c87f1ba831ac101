"""A card: a visual report a step attaches to its task (Markdown, tables, images, charts)."""

from __future__ import annotations

from typing import Any

from lamina.cards.components import Component, as_component, component_from_dict

#: Format version of a stored card.
CARD_FORMAT = 1


class Card:
    """A report attached to a task, shown by ``lamina ui`` and ``lamina card``.

    In a step, append to the task's card::

        from lamina import current
        current.card.append("# Churn by country")        # Markdown
        current.card.append(frame)                          # a DataFrame: a table
        current.card.append(figure)                         # a matplotlib figure: an image
        current.card.append({"mark": "bar", "data": ..., "encoding": ...})  # Vega-Lite

    or return a ``lamina.Card(...)`` from the step. In a notebook a card displays itself.
    """

    def __init__(self, *items: Any, title: str = "") -> None:
        self.title = title
        self.components: list[Component] = [as_component(i) for i in items]

    def append(self, item: Any) -> Card:
        """Add a component (see the class doc for what each type becomes); returns the card."""
        self.components.append(as_component(item))
        return self

    def extend(self, items: Any) -> Card:
        """Add several components in order."""
        for item in items:
            self.append(item)
        return self

    def __len__(self) -> int:
        return len(self.components)

    def __bool__(self) -> bool:
        return True

    @property
    def has_charts(self) -> bool:
        return any(c.kind == "vega-lite" for c in self.components)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored with the task."""
        return {"format": CARD_FORMAT, "title": self.title,
                "components": [c.to_dict() for c in self.components]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        card = cls(title=str(data.get("title", "")))
        card.components = [component_from_dict(c) for c in data.get("components", [])]
        return card

    def html_fragment(self) -> str:
        """The card's body as escaped HTML; charts are ``div.lamina-vega`` elements drawn
        by the vendored vega-embed (see :func:`lamina.cards.render.standalone_html`)."""
        from html import escape

        title = f'<h2 class="lamina-card-title">{escape(self.title)}</h2>' if self.title else ""
        parts = "".join(f'<section class="lamina-card-item">{c.html()}</section>'
                        for c in self.components)
        return f'<div class="lamina-card">{title}{parts}</div>'

    def to_html(self) -> str:
        """A standalone HTML document (the chart libraries inlined: it opens offline)."""
        from lamina.cards.render import standalone_html

        return standalone_html(self)

    def _repr_html_(self) -> str:
        from lamina.cards.render import inline_html

        return inline_html(self)

    def __repr__(self) -> str:
        kinds = ", ".join(c.kind for c in self.components)
        return f"Card({self.title!r}, [{kinds}])"

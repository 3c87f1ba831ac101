"""Cards: a visual report a step attaches to its task.

``current.card.append(...)`` in a step (Markdown, a DataFrame, PNG bytes or a matplotlib
figure, a Vega-Lite spec), or return a :class:`Card`. The card is stored with the task in
the datastore, shown by ``lamina ui``, written to a standalone HTML file by ``lamina card
RUN/STEP[/INDEX] -o card.html`` and displayed inline in a notebook.
"""

from lamina.cards.card import Card
from lamina.cards.components import Image, Markdown, Table, VegaLite
from lamina.cards.context import current_card
from lamina.cards.render import standalone_html
from lamina.cards.store import load_task_card, save_task_card

__all__ = [
    "Card", "Image", "Markdown", "Table", "VegaLite", "current_card", "load_task_card",
    "save_task_card", "standalone_html",
]

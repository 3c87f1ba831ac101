"""Cards as values: components, escaping, storage round trip, notebook HTML."""

from __future__ import annotations

import pytest

from lamina import Card, current
from lamina.cards import Image, Markdown, Table, VegaLite
from lamina.cards.context import begin_task_card, end_task_card
from lamina.errors import LaminaError

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005050200" "5fc8f1d20000000049454e44ae426082"
)


def test_append_turns_values_into_components() -> None:
    pd = pytest.importorskip("pandas")
    card = Card(title="t")
    card.append("# hi").append(pd.DataFrame({"a": [1, 2]})).append(PNG)
    card.append({"mark": "bar", "data": {"values": []}})
    assert [c.kind for c in card.components] == ["markdown", "table", "image", "vega-lite"]
    assert card.has_charts


def test_markup_is_escaped_everywhere() -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    html = Card(evil, Table.from_data([{evil: evil}]), Image(PNG, alt=evil),
                VegaLite({"mark": "bar", "title": evil}), title=evil).html_fragment()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_round_trip_through_the_stored_shape() -> None:
    card = Card("text", Table.from_data({"x": [1, 2, 3]}), Image(PNG, alt="dot"),
                VegaLite({"mark": "point"}), title="T")
    back = Card.from_dict(card.to_dict())
    assert back.title == "T"
    assert back.components == card.components


def test_tables_keep_their_first_rows_and_count() -> None:
    table = Table.from_data({"x": list(range(5000))}, max_rows=10)
    assert len(table.rows) == 10 and table.total_rows == 5000
    assert "first 10 of 5000 rows" in table.html()


def test_what_cannot_be_shown_is_a_clear_error() -> None:
    with pytest.raises(LaminaError, match="a card cannot show a object"):
        Card().append(object())
    with pytest.raises(LaminaError, match="not PNG, JPEG or GIF"):
        Image.from_data(b"not an image")


def test_current_card_belongs_to_the_task() -> None:
    token = begin_task_card()
    current.card.append("inside")
    card = end_task_card(token)
    assert card is not None and card.components == [Markdown("inside")]
    token = begin_task_card()
    assert end_task_card(token) is None  # nothing appended: no card


def test_notebook_html_inlines_the_chart_libraries_only_when_needed() -> None:
    assert "<script>" not in Card("# text only")._repr_html_()
    html = Card(VegaLite({"mark": "bar"}))._repr_html_()
    assert "vegaEmbed" in html and html.count("<script>") == 4
    assert "cdn" not in html.lower().split("<script>")[0]

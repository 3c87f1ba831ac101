"""What a card is made of: Markdown, tables, images and Vega-Lite charts.

Each component is a small frozen value with ``to_dict`` (the JSON stored with the task)
and ``html`` (escaped HTML: whatever a step puts in a card is shown as text, never run).
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any, ClassVar

import attrs

from lamina.errors import LaminaError

#: Rows of a table kept in a card (a card is a report, not a datastore).
MAX_TABLE_ROWS = 1000


def _markdown_html(text: str) -> str:
    """CommonMark to HTML with raw HTML disabled: markup in the text shows as text."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


@attrs.frozen
class Markdown:
    """A block of Markdown (CommonMark, tables allowed; raw HTML is shown as text)."""

    text: str
    kind: ClassVar[str] = "markdown"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "text": self.text}

    def html(self) -> str:
        return f'<div class="lamina-card-markdown">{_markdown_html(self.text)}</div>'


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else None  # NaN -> null
    return str(value)


@attrs.frozen
class Table:
    """A table: column names and rows (the first :data:`MAX_TABLE_ROWS` rows are kept).

    Build it with :meth:`from_data` from a pandas DataFrame, a pyarrow Table, a list of
    dicts or a dict of columns.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    total_rows: int = 0
    title: str = ""
    kind: ClassVar[str] = "table"

    @classmethod
    def from_data(cls, data: Any, *, title: str = "", max_rows: int = MAX_TABLE_ROWS) -> Table:
        """A table from a DataFrame, an Arrow table, a list of dicts or a dict of lists."""
        kind = type(data).__module__.split(".")[0]
        if kind == "pandas" and hasattr(data, "to_dict"):
            frame = data.reset_index() if type(data.index).__name__ != "RangeIndex" else data
            columns = [str(c) for c in frame.columns]
            rows = frame.head(max_rows).itertuples(index=False, name=None)
            total = len(frame)
        elif kind == "pyarrow" and hasattr(data, "to_pylist"):
            columns = [str(c) for c in data.column_names]
            rows = (tuple(r.values()) for r in data.slice(0, max_rows).to_pylist())
            total = data.num_rows
        elif isinstance(data, dict):
            columns = [str(c) for c in data]
            values = [list(v) for v in data.values()]
            total = max((len(v) for v in values), default=0)
            rows = (tuple(v[i] if i < len(v) else None for v in values)
                    for i in range(min(total, max_rows)))
        elif isinstance(data, list | tuple) and all(isinstance(r, dict) for r in data):
            columns = list(dict.fromkeys(str(k) for r in data for k in r))
            rows = (tuple(r.get(c) for c in columns) for r in data[:max_rows])
            total = len(data)
        else:
            raise LaminaError(
                f"a card table cannot be made from a {type(data).__name__}",
                hint="pass a pandas DataFrame, a pyarrow Table, a list of dicts or a dict of "
                "columns to Table.from_data (or card.append)",
            )
        return cls(tuple(columns), tuple(tuple(_cell(v) for v in r) for r in rows),
                   total_rows=total, title=title)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "total_rows": self.total_rows,
                "title": self.title}

    def html(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        more = ""
        if self.total_rows > len(self.rows):
            more = f'<p class="lamina-muted">first {len(self.rows)} of {self.total_rows} rows</p>'
        return (f'<table class="lamina-card-table">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>{more}")


def _png_of_figure(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


_IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


@attrs.frozen
class Image:
    """An image: PNG, JPEG or GIF bytes (or a matplotlib figure, via :meth:`from_data`)."""

    data: bytes
    alt: str = ""
    mime: str = "image/png"
    kind: ClassVar[str] = "image"

    @classmethod
    def from_data(cls, data: Any, *, alt: str = "") -> Image:
        """An image from PNG/JPEG/GIF bytes or a matplotlib figure (saved as PNG)."""
        if hasattr(data, "savefig"):
            data = _png_of_figure(data)
        if not isinstance(data, bytes | bytearray):
            raise LaminaError(
                f"a card image cannot be made from a {type(data).__name__}",
                hint="pass PNG, JPEG or GIF bytes or a matplotlib figure",
            )
        for magic, mime in _IMAGE_TYPES.items():
            if bytes(data[: len(magic)]) == magic:
                return cls(bytes(data), alt=alt, mime=mime)
        raise LaminaError(
            "a card image's bytes are not PNG, JPEG or GIF",
            hint="save the picture as PNG (e.g. figure.savefig(buf, format='png'))",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "data": base64.b64encode(self.data).decode(),
                "alt": self.alt, "mime": self.mime}

    def html(self) -> str:
        src = f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"
        return f'<img class="lamina-card-image" src="{src}" alt="{html.escape(self.alt)}">'


@attrs.frozen
class VegaLite:
    """A chart: a Vega-Lite specification (a dict, with its data inline)."""

    spec: dict[str, Any]
    kind: ClassVar[str] = "vega-lite"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "spec": self.spec}

    def html(self) -> str:
        spec = html.escape(json.dumps(self.spec, default=str), quote=True)
        return f'<div class="lamina-vega" data-spec="{spec}"></div>'


Component = Markdown | Table | Image | VegaLite


def component_from_dict(data: dict[str, Any]) -> Component:
    """The component a stored card holds (the inverse of ``to_dict``)."""
    kind = data.get("type")
    if kind == "markdown":
        return Markdown(str(data["text"]))
    if kind == "table":
        return Table(tuple(data["columns"]), tuple(tuple(r) for r in data["rows"]),
                     total_rows=int(data.get("total_rows", 0)), title=data.get("title", ""))
    if kind == "image":
        return Image(base64.b64decode(data["data"]), alt=data.get("alt", ""),
                     mime=data.get("mime", "image/png"))
    if kind == "vega-lite":
        return VegaLite(dict(data["spec"]))
    raise LaminaError(f"a stored card has a component of unknown type {kind!r}",
                      hint="upgrade lamina to read cards written by a newer version")


def as_component(value: Any) -> Component:
    """Turn what a step appends into a component: text is Markdown, a DataFrame or Arrow
    table a Table, bytes or a matplotlib figure an Image, a dict with a ``mark`` or a
    Vega-Lite ``$schema`` a chart."""
    if isinstance(value, Markdown | Table | Image | VegaLite):
        return value
    if isinstance(value, str):
        return Markdown(value)
    if isinstance(value, bytes | bytearray) or hasattr(value, "savefig"):
        return Image.from_data(value)
    if isinstance(value, dict) and ("mark" in value or "vega-lite" in str(value.get("$schema", ""))
                                    or "layer" in value or "vconcat" in value
                                    or "hconcat" in value):
        return VegaLite(value)
    if type(value).__module__.split(".")[0] in ("pandas", "pyarrow") or isinstance(
        value, dict | list | tuple
    ):
        return Table.from_data(value)
    raise LaminaError(
        f"a card cannot show a {type(value).__name__}",
        hint="append a str (Markdown), a DataFrame or Arrow table, PNG bytes or a matplotlib "
        "figure, or a Vega-Lite spec (a dict with 'mark')",
    )

"""SQL text helpers shared by the SQL data sources (builtin ``sqlite``, ``lamina-data-sql``):
placeholders rewritten for the driver (values are always bound by the driver, never
formatted into the text) and a database's error position turned into line and column."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["bind_params", "line_column"]

Style = Literal["dollar", "colon", "qmark", "pyformat"]
_NAME = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")


def _scan(query: str) -> list[tuple[bool, str]]:
    """The query cut into (is_code, text) pieces: quoted strings, quoted identifiers and
    comments are not code, so a placeholder-looking text inside them is left alone."""
    pieces: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(query)
    while i < n:
        c = query[i]
        end = -1
        if c in ("'", '"', "`"):
            j = i + 1
            while j < n:
                if query[j] == c:
                    if j + 1 < n and query[j + 1] == c:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
        elif query.startswith("--", i):
            j = query.find("\n", i)
            end = n if j < 0 else j
        elif query.startswith("/*", i):
            j = query.find("*/", i + 2)
            end = n if j < 0 else j + 2
        if end >= 0:
            if start < i:
                pieces.append((True, query[start:i]))
            pieces.append((False, query[i:end]))
            i = start = end
        else:
            i += 1
    if start < n:
        pieces.append((True, query[start:]))
    return pieces


def bind_params(
    query: str, params: Mapping[str, Any] | Sequence[Any] | None, style: Style
) -> tuple[str, Any]:
    """``query`` and ``params`` as a driver of placeholder ``style`` binds them.

    A mapping of parameters is written ``%(name)s`` in the query (as psycopg and PyMySQL
    write them; ``:name`` also works where the driver takes it); a sequence is passed on
    as is, for the driver's own positional placeholders (``$1`` on PostgreSQL, ``?`` on
    SQLite, ``%s`` on MySQL). Returns the query and the parameters (a tuple for
    ``dollar``/``qmark``, a dict for ``colon``/``pyformat``).

    :raises KeyError: a ``%(name)s`` of the query has no value in ``params``.
    """
    if params is None:
        return query, None
    if not isinstance(params, Mapping):
        return query, tuple(params)
    order: list[str] = []
    out: list[str] = []
    for is_code, text in _scan(query):
        if not is_code:
            out.append(text)
            continue

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in params:
                raise KeyError(name)
            if style == "dollar":
                if name not in order:
                    order.append(name)
                return f"${order.index(name) + 1}"
            if style == "qmark":
                order.append(name)
                return "?"
            if style == "colon":
                return f":{name}"
            return m.group(0)

        out.append(_NAME.sub(repl, text))
    text = "".join(out)
    if style in ("dollar", "qmark"):
        if not order:  # no %(name)s: the driver's own named style, if any
            return text, dict(params)
        return text, tuple(params[name] for name in order)
    return text, dict(params)


def line_column(query: str, position: int) -> tuple[int, int]:
    """Line and column (1-based) of the 1-based character ``position`` in ``query``."""
    before = query[: max(position - 1, 0)]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return line, column

"""SQL text helpers shared by the SQL data sources (builtin ``sqlite``, ``lamina-data-sql``):
placeholders rewritten for the driver (values are always bound by the driver, never
formatted into the text), a table read's DNF filter turned into a ``WHERE`` clause, and a
database's error position turned into line and column."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

__all__ = ["FILTER_OPERATORS", "bind_params", "dnf_filter", "filter_text", "line_column",
           "sql_where"]

#: Comparison operators of a DNF filter (as pyarrow's dataset filters spell them).
FILTER_OPERATORS = ("=", "==", "!=", "<", "<=", ">", ">=", "in", "not in")

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


def dnf_filter(value: Any) -> list[list[tuple[str, str, Any]]]:
    """A DNF filter (``[("day", "=", "b")]``; a list of lists is an OR of ANDs) as a list
    of conjunctions of ``(column, op, value)``, operators lower-cased.

    :raises TypeError: ``value`` is not such a list or an operator is not one of
        :data:`FILTER_OPERATORS`.
    """
    if not isinstance(value, list | tuple):
        raise TypeError(value)
    items = list(value)
    if items and all(_is_term(x) for x in items):
        items = [items]  # one conjunction
    out = []
    for conj in items:
        if not isinstance(conj, list | tuple):
            raise TypeError(conj)
        terms = []
        for term in conj:
            if not _is_term(term):
                raise TypeError(term)
            column, op, val = term
            terms.append((column, str(op).lower(),
                          list(val) if isinstance(val, set | tuple) else val))
        out.append(terms)
    return out


def _is_term(x: Any) -> bool:
    return (isinstance(x, list | tuple) and len(x) == 3 and isinstance(x[0], str)
            and isinstance(x[1], str) and x[1].lower() in FILTER_OPERATORS)


def filter_text(value: Any) -> str | None:
    """A filter as the text a ``DataInput`` records (JSON for a DNF list)."""
    import json

    if value is None:
        return None
    if isinstance(value, list | tuple):
        try:
            return json.dumps([[list(t) for t in conj] for conj in dnf_filter(value)],
                              default=str)
        except TypeError:
            return json.dumps(value, default=str)
    return str(value)


_SQL_OPS = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
            "in": "IN", "not in": "NOT IN"}


def sql_where(dnf: list[list[tuple[str, str, Any]]], quote: Callable[[str], str]
              ) -> tuple[str, dict[str, Any]]:
    """A normalized DNF filter (:func:`dnf_filter`) as a ``WHERE`` condition with
    ``%(fN)s`` placeholders and their values (for :func:`bind_params`); identifiers are
    quoted with ``quote``, values are never formatted into the text. ``= None`` and
    ``!= None`` become ``IS NULL`` and ``IS NOT NULL``; an empty ``in`` list matches no
    row (``not in``: every row)."""
    params: dict[str, Any] = {}

    def mark(value: Any) -> str:
        name = f"f{len(params)}"
        params[name] = value
        return f"%({name})s"

    ors = []
    for conj in dnf:
        ands = []
        for column, op, value in conj:
            col = quote(column)
            if op in ("in", "not in"):
                items = list(value) if isinstance(value, list | tuple | set) else [value]
                if not items:
                    ands.append("1 = 0" if op == "in" else "1 = 1")
                else:
                    ands.append(f"{col} {_SQL_OPS[op]} ({', '.join(map(mark, items))})")
            elif value is None and op in ("=", "==", "!="):
                ands.append(f"{col} IS {'NOT ' if op == '!=' else ''}NULL")
            else:
                ands.append(f"{col} {_SQL_OPS[op]} {mark(value)}")
        ors.append("(" + (" AND ".join(ands) or "1 = 1") + ")")
    return (" OR ".join(ors) or "1 = 0"), params

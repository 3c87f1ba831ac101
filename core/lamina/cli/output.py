"""Printing helpers shared by the commands: plain text when piped, rich on a terminal.

``rich`` is imported only inside these functions and only when standard output is a
terminal, so neither ``lamina --help`` nor a piped command pays for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def is_terminal(stream: Any = None) -> bool:
    """Whether to print for a human (colours, tables): a TTY, and NO_COLOR unset."""
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def echo(text: str = "", *, err: bool = False) -> None:
    """Print a line to stdout (or stderr)."""
    print(text, file=sys.stderr if err else sys.stdout)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (non-JSON values as strings)."""
    print(json.dumps(data, indent=2, default=str, sort_keys=False))


def format_value(value: Any) -> str:
    """A value the way it would be written in lamina.toml."""
    if value is None:
        return "(default)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, default=str)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = "") -> None:
    """A table: rich on a terminal, aligned plain columns otherwise."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title) if title else None)
        for h in headers:
            table.add_column(h)
        for row in cells:
            table.add_row(*(Text(c) for c in row))  # user text is shown as written
        Console().print(table)
        return
    if title:
        print(title)
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def status_mark(ok: bool) -> str:
    """A pass/fail marker that survives a pipe and a log file (coloured on a terminal)."""
    if is_terminal():
        return "\033[32m✓\033[0m" if ok else "\033[31m✗\033[0m"
    return "ok  " if ok else "FAIL"

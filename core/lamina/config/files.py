"""Finding and reading the config file: ``lamina.toml`` or ``[tool.lamina]`` in
``pyproject.toml``, whichever comes first walking up from the working directory."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.config import CONFIG_ENV, SECRETS_NAME
from lamina.config.locate import CONFIG_NAME, PYPROJECT_NAME, find_config_file
from lamina.errors import ConfigError

PYPROJECT_PREFIX = ("tool", "lamina")
__all__ = ["CONFIG_ENV", "CONFIG_NAME", "SECRETS_NAME", "ConfigSource", "find_config_file",
           "read_config_file", "read_secrets_file"]


@attrs.frozen
class ConfigSource:
    """One config file: its path, its text and the lamina table inside it.

    ``prefix`` is ``("tool", "lamina")`` for a pyproject.toml, ``()`` for lamina.toml; it
    is needed to find the line a key is on.
    """

    path: Path
    text: str
    data: dict[str, Any]
    prefix: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The path as a user would type it from the working directory."""
        try:
            rel = os.path.relpath(self.path)
        except ValueError:  # another drive on Windows
            return str(self.path)
        return rel if not rel.startswith(".." + os.sep + "..") else str(self.path)

    def line_of(self, keys: Sequence[str]) -> int | None:
        """The 1-based line where the (dotted) key path is written, when it can be found
        cheaply in the raw text; else the line of its nearest table header, else None."""
        return find_line(self.text, tuple(self.prefix) + tuple(keys), len(self.prefix))

    def where(self, keys: Sequence[str] = ()) -> str:
        """``lamina.toml:7`` (or just the file when the line is unknown)."""
        line = self.line_of(keys) if keys else None
        return f"{self.display}:{line}" if line else self.display


def _key_re(key: str) -> str:
    k = re.escape(key)
    return f"""(?:{k}|"{k}"|'{k}')"""


def _header_re(keys: Sequence[str]) -> re.Pattern[str]:
    dotted = r"\s*\.\s*".join(_key_re(k) for k in keys)
    return re.compile(r"^\s*\[\[?\s*" + dotted + r"\s*\]\]?\s*(#.*)?$")


_ANY_HEADER = re.compile(r"^\s*\[")


def find_line(text: str, keys: tuple[str, ...], min_header: int = 0) -> int | None:
    """Best-effort line lookup for a key path in TOML text (1-based)."""
    lines = text.splitlines()
    best: int | None = None
    for split in range(len(keys), min_header - 1, -1):
        header, rest = keys[:split], keys[split:]
        if header:
            pattern = _header_re(header)
            starts = [i for i, line in enumerate(lines) if pattern.match(line)]
            if not starts:
                continue
            start = starts[0] + 1
            header_line = starts[0] + 1
        else:
            start, header_line = 0, None
        end = next(
            (i for i in range(start, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines)
        )
        if not rest:
            return header_line
        # the first remaining key may be written dotted: `datastore.url = ...`
        first = re.compile(r"^\s*" + _key_re(rest[0]) + r"\s*[.=]")
        hit = next((i for i in range(start, end) if first.match(lines[i])), None)
        if hit is None:
            best = best or header_line
            continue
        line_no = hit
        for key in rest[1:]:
            inner = re.compile(r"(^|[\s{,.])" + _key_re(key) + r"\s*=")
            nxt = next((i for i in range(line_no, end) if inner.search(lines[i])), None)
            if nxt is None:
                break
            line_no = nxt
        return line_no + 1
    return best


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read config file {path}: {exc.strerror or exc}",
            hint="check the path given with --config / LAMINA_CONFIG",
        ) from exc
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint="fix the syntax at the line shown (https://toml.io)",
        ) from exc


def read_config_file(path: str | Path) -> ConfigSource:
    """Read ``lamina.toml``, a ``pyproject.toml`` (its ``[tool.lamina]`` table) or any
    other TOML file holding lamina's keys at the top level."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise ConfigError(
            f"Config file {path} does not exist.",
            hint="check the path given with --config / LAMINA_CONFIG",
        )
    text, data = _read_toml(p)
    if p.name == PYPROJECT_NAME:
        table = data.get("tool", {}).get("lamina")
        if not isinstance(table, dict):
            raise ConfigError(
                f"{p}: has no [tool.lamina] table.",
                hint="add [tool.lamina.stacks.NAME] tables, or use a lamina.toml file",
            )
        return ConfigSource(path=p, text=text, data=table, prefix=PYPROJECT_PREFIX)
    return ConfigSource(path=p, text=text, data=data)


def read_secrets_file(config_path: Path) -> ConfigSource | None:
    """``lamina.secrets.toml`` beside the config file, if present (never committed)."""
    p = config_path.parent / SECRETS_NAME
    if not p.is_file():
        return None
    text, data = _read_toml(p)
    return ConfigSource(path=p, text=text, data=data)

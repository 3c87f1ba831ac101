"""Credentials stay out of the committed config.

Two ways to give a component a secret without writing it in ``lamina.toml``:

* ``"${AWS_SECRET_ACCESS_KEY}"`` (or ``"${VAR:-default}"``) in any string value is
  replaced by the environment variable when the stack is loaded;
* ``lamina.secrets.toml`` beside the config file, with the same shape, is merged over it.
  It belongs in ``.gitignore``.

Values that came from either place, and options whose name looks like a credential, are
masked whenever lamina prints a stack.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "private_key")
MASK = "****"


class MissingVariable(Exception):
    """An ``${VAR}`` whose variable is not set; the caller turns it into a ConfigError."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BadReference(Exception):
    """A ``${`` that does not start a well-formed ``${VAR}`` (unclosed, or not a variable
    name): the caller turns it into a ConfigError naming the option."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def check_references(value: Any) -> None:
    """Raise :class:`BadReference` when a string (in tables and arrays too) holds ``${``
    outside a well-formed ``${VAR}`` or ``${VAR:-default}``."""
    if isinstance(value, str):
        rest = _VAR.sub("", value)
        if "${" in rest:
            raise BadReference(rest[rest.index("${"):][:40])
    elif isinstance(value, dict):
        for v in value.values():
            check_references(v)
    elif isinstance(value, list):
        for v in value:
            check_references(v)


def has_reference(value: Any) -> bool:
    """Whether a raw config value contains ``${VAR}`` anywhere."""
    if isinstance(value, str):
        return bool(_VAR.search(value))
    if isinstance(value, dict):
        return any(has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(has_reference(v) for v in value)
    return False


def expand(value: Any, env: Mapping[str, str]) -> Any:
    """Replace every ``${VAR}`` in strings (recursively in tables and arrays).

    :raises MissingVariable: a variable is unset and has no ``:-default``.
    :raises BadReference: a ``${`` is not closed or holds no variable name.
    """
    if isinstance(value, str):
        check_references(value)

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise MissingVariable(name)

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    return value


def references(value: Any) -> Iterator[str]:
    """The name of every ``${VAR}`` in a raw config value (tables and arrays too)."""
    if isinstance(value, str):
        for m in _VAR.finditer(value):
            yield m.group(1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)


#: Values shorter than this are not redacted (a one-letter value would mangle any text).
MIN_SECRET = 3


class Redactor:
    """Puts templates back: every value that came from ``${VAR}`` becomes ``${VAR}`` again,
    every value from ``lamina.secrets.toml`` becomes ``****``, in any text about to be
    stored or shown (a datastore URL in a run record or a DAG file, a message). The value
    is also recognised percent-encoded, as a URL carries it."""

    def __init__(self) -> None:
        self._map: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, value: Any, template: str) -> None:
        """Remember that ``value`` stands for ``template`` (strings of at least
        :data:`MIN_SECRET` characters)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET or value == template:
            return
        with self._lock:
            for form in (value, quote(value, safe=""), quote(value, safe=":/"),
                         quote_plus(value)):
                self._map.setdefault(form, template)

    def __bool__(self) -> bool:
        return bool(self._map)

    def __call__(self, text: str) -> str:
        """``text`` with every remembered value replaced by its template."""
        if not self._map or not isinstance(text, str):
            return text
        with self._lock:
            pairs = sorted(self._map.items(), key=lambda kv: -len(kv[0]))
        for value, template in pairs:
            if value in text:
                text = text.replace(value, template)
        return text


#: What lamina's own log output redacts: every value a stack of this process read from
#: ``${VAR}`` or the secrets file (a log line is written by the process, not a stack).
LOG_REDACTOR = Redactor()


def looks_secret(key: str) -> bool:
    """Whether an option's name suggests a credential (masked when printed)."""
    k = key.lower()
    return any(w in k for w in _SECRET_WORDS) or k.endswith(("_key", "apikey", "api_key"))


def deep_merge(
    base: dict[str, Any], over: Mapping[str, Any], path: tuple[str, ...] = (),
    on_value: Callable[[tuple[str, ...]], None] | None = None,
) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` table by table; ``on_value`` is told the
    key path of every value taken from ``over``."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(dict(out[key]), value, (*path, key), on_value)
        else:
            out[key] = value
            if on_value is not None:
                _report(value, (*path, key), on_value)
    return out


def _report(value: Any, path: tuple[str, ...], on_value: Callable[[tuple[str, ...]], None]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _report(v, (*path, k), on_value)
    else:
        on_value(path)

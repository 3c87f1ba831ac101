"""Turning a TOML table into a component's attrs options class, strictly.

TOML values are already typed, so a wrong type is an error (``workers = "4"`` is not an
integer, ``verify_reads = "no"`` is not a boolean) rather than something to coerce. Unknown
keys are rejected with the nearest valid name. The class's own validators run last. None of
the component's code runs: only its options class is touched.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Collection, Mapping
from pathlib import Path, PurePath
from typing import Any

import attrs

from lamina.errors import OptionError
from lamina.kernel.suggest import did_you_mean

__all__ = [
    "OptionError",
    "build_options",
    "coerce",
    "describe_type",
    "field_types",
    "option_docs",
    "options_to_dict",
]


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def option_docs(cls: type) -> dict[str, str]:
    """``:param name: text`` lines of the class docstring, by option name."""
    doc = cls.__doc__ or ""
    found: dict[str, str] = {}
    for m in re.finditer(r":param (\w+):(.*?)(?=\n\s*:param |\n\s*\n|\Z)", doc, re.S):
        found[m.group(1)] = " ".join(m.group(2).split())
    return found


def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of an attrs class's fields."""
    try:
        attrs.resolve_types(cls)
    except Exception:  # a forward reference we cannot resolve: check what we can
        pass
    return {f.name: f.type for f in attrs.fields(cls)}


def describe_type(tp: Any) -> str:
    """A human phrase for a type: ``an integer``, ``a list of strings``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is None:
        return "any value"
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(parts) if parts else "nothing"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if isinstance(tp, type) and issubclass(tp, PurePath):
        return "a path (string)"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if origin in (list, tuple, set, frozenset, typing.Sequence) or tp in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        return "a list" + (f" of {_plural(describe_type(inner[0]))}" if inner else "")
    if origin in (dict, Mapping) or tp is dict:
        return "a table"
    if isinstance(tp, type) and attrs.has(tp):
        return f"a table of {tp.__name__} options"
    return getattr(tp, "__name__", str(tp))


def _plural(phrase: str) -> str:
    for art in ("an ", "a "):
        if phrase.startswith(art):
            word = phrase[len(art):]
            return word + ("es" if word.endswith("s") else "s") if " " not in word else word
    return phrase


def coerce(value: Any, tp: Any) -> Any:
    """``value`` if it fits ``tp`` (converted where lossless), else raise _Mismatch."""
    if isinstance(tp, str) or tp is Any or tp is None:
        return value  # unresolved or untyped: leave it to the class's validators
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a)
            except _Mismatch:
                continue
        raise _Mismatch(describe_type(tp))
    if origin is typing.Literal:
        if value in args and not (isinstance(value, bool) and not any(a is value for a in args)):
            return value
        raise _Mismatch(describe_type(tp))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch("true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch("a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("a string")
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, PurePath)):
            return Path(value)
        raise _Mismatch("a path (string)")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch(describe_type(tp)) from None
    seq = origin in (list, tuple, set, frozenset, typing.Sequence) or tp in (list, tuple)
    if seq:
        if not isinstance(value, list):
            raise _Mismatch(describe_type(tp))
        try:
            if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
                if len(args) != len(value):
                    raise _Mismatch(describe_type(tp))
                items = [coerce(v, a) for v, a in zip(value, args, strict=True)]
            else:
                inner = args[0] if args else Any
                items = [coerce(v, inner) for v in value]
        except _Mismatch:
            raise _Mismatch(describe_type(tp)) from None
        if origin in (tuple, set, frozenset) or tp is tuple:
            return (origin or tp)(items)
        return items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch("a table")
        vt = args[1] if len(args) == 2 else Any
        try:
            return {k: coerce(v, vt) for k, v in value.items()}
        except _Mismatch:
            raise _Mismatch(f"a table of {_plural(describe_type(vt))}") from None
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, dict):
            raise _Mismatch(describe_type(tp))
        try:
            return build_options(tp, value)
        except OptionError as exc:
            raise _Mismatch(f"{describe_type(tp)} ({exc.message})") from None
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch(describe_type(tp))
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml_type(value: Any) -> str:
    return {
        bool: "boolean", int: "integer", float: "float", str: "string",
        list: "array", dict: "table",
    }.get(type(value), type(value).__name__)


def build_options(
    cls: type, raw: Mapping[str, Any], *, secret: Collection[str] = ()
) -> Any:
    """An instance of the attrs class ``cls`` from a TOML table.

    :param secret: options whose value a message must not show (they came from
        ``${VAR}`` or the secrets file, or look like credentials): shown as ``****``.
    :raises OptionError: unknown key, wrong type, missing required option, or a
        validator of the class refused a value.
    """
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    fields = {f.name: f for f in attrs.fields(cls)}
    # attrs strips a leading underscore for the __init__ argument name
    init_names = {(f.alias or f.name): f for f in fields.values() if f.init}
    types_ = field_types(cls)
    docs = option_docs(cls)
    choices = ", ".join(init_names) or "(none)"
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        f = init_names.get(key)
        if f is None:
            raise OptionError(
                f"unknown option {key!r}{did_you_mean(key, init_names)}. Options: {choices}",
                key=key,
                hint="remove the key or correct its name (`lamina stack show` lists "
                "each component's options)",
            )
        try:
            kwargs[key] = coerce(value, types_.get(f.name, Any))
        except _Mismatch as mm:
            doc = docs.get(f.name)
            raise OptionError(
                f"option {key!r} must be {mm.expected}, got "
                f"{'****' if key in secret else _show(value)} "
                f"({_toml_type(value)})",
                key=key,
                hint=f"{key}: {doc}" if doc else f"give {key} {mm.expected}",
            ) from None
    missing = [
        name for name, f in init_names.items()
        if name not in kwargs and f.default is attrs.NOTHING
    ]
    if missing:
        raise OptionError(
            f"missing required option{'s' if len(missing) > 1 else ''} "
            + ", ".join(repr(m) for m in missing),
            key=None,
            hint="; ".join(f"{m}: {docs.get(m, describe_type(types_.get(m)))}" for m in missing),
        )
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        # attrs' own validators raise ValueError(message, Attribute(...), ...): keep the message
        text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        for key in secret:
            if isinstance(kwargs.get(key), str) and kwargs[key]:
                text = text.replace(kwargs[key], "****")
        failed_key = next((k for k in kwargs if re.search(rf"\b{re.escape(k)}\b", text)), None)
        option_doc = docs.get(failed_key) if failed_key else None
        raise OptionError(
            f"invalid value{f' for {failed_key!r}' if failed_key else ''}: {text}",
            key=failed_key,
            hint=f"{failed_key}: {option_doc}" if option_doc else None,
        ) from None


def options_to_dict(options: Any) -> dict[str, Any]:
    """An options instance as plain TOML-like values (for ``lamina stack show``)."""
    if options is None:
        return {}
    if not attrs.has(type(options)):
        return dict(getattr(options, "__dict__", {}))

    def plain(v: Any) -> Any:
        if isinstance(v, PurePath):
            return str(v)
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, (list, tuple, set, frozenset)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if attrs.has(type(v)):
            return options_to_dict(v)
        return v

    return {f.name: plain(getattr(options, f.name)) for f in attrs.fields(type(options))}

"""The config reference, written from the components' own attrs option classes.

``python -m lamina.config.reference`` prints the option tables of every installed
component; ``--update FILE`` rewrites the generated block of a Markdown file (between the
``BEGIN``/``END`` markers below), which is how ``docs/configuration.md`` is kept true.
``--builtin`` limits the tables to the components that ship with lamina.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

import attrs

from lamina.config.options import option_docs
from lamina.interfaces.component import LAYERS, ComponentSpec

BEGIN = "<!-- BEGIN GENERATED OPTIONS: python -m lamina.config.reference --builtin --update docs/configuration.md -->"
END = "<!-- END GENERATED OPTIONS -->"


def _type_text(field: attrs.Attribute) -> str:
    """The field's type as written, whether attrs still holds it as a string or some code
    already resolved it (``attrs.resolve_types``): the page must not depend on that."""
    return _type_name(field.type) if field.type is not None else ""


def _type_name(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    if tp is type(None):
        return "None"
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is not None and args:
        if origin in (typing.Union, types.UnionType):
            return " | ".join(_type_name(a) for a in args)
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _default_text(field: attrs.Attribute) -> str:
    default: Any = field.default
    if default is attrs.NOTHING:
        return "**required**"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        try:
            default = default.factory() if not default.takes_self else None
        except Exception:
            return "(computed)"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default!r}`"


def _md(text: str) -> str:
    # docstrings use reST literals; Markdown tables need escaped pipes
    return text.replace("``", "`").replace("|", "\\|")


def render_component(spec: ComponentSpec) -> str:
    """One component's heading, description and option table."""
    dist = spec.distribution or "unpackaged"
    lines = [f"### {spec.layer}: `{spec.name}` ({dist})", ""]
    if spec.description:
        lines += [spec.description[:1].upper() + spec.description[1:] + ".", ""]
    doc = (spec.config.__doc__ or "").strip().split("\n\n")[0].strip()
    if doc:
        lines += [_md(" ".join(doc.split())), ""]
    if spec.url_schemes:
        schemes = ", ".join(f"`{s}://`" for s in spec.url_schemes)
        lines += [f"Chosen by a datastore URL with scheme {schemes}.", ""]
    return "\n".join([*lines, *_option_table(spec.config), ""])


def render_data_source(spec: Any, distribution: str = "") -> str:
    """One kind of data source (``[stacks.S.data.NAME] plugin = "..."``): heading,
    description and option table."""
    lines = [f"### data source: `{spec.name}` ({distribution or 'unpackaged'})", ""]
    if spec.description:
        lines += [spec.description[:1].upper() + spec.description[1:] + ".", ""]
    doc = (spec.config.__doc__ or "").strip().split("\n\n")[0].strip()
    if doc:
        lines += [_md(" ".join(doc.split())), ""]
    if spec.url_schemes:
        schemes = ", ".join(f"`{s}://`" for s in spec.url_schemes)
        lines += [f"Chosen by a `url` with scheme {schemes} when `plugin` is not given.", ""]
    return "\n".join([*lines, *_option_table(spec.config), ""])


def _option_table(cls: type) -> list[str]:
    fields = [f for f in attrs.fields(cls) if f.init]
    if not fields:
        return ["No options."]
    docs = option_docs(cls)
    lines = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for f in fields:
        meaning = _md(docs.get(f.name, ""))
        type_text = _type_text(f).replace("|", "\\|")
        lines.append(
            f"| `{f.alias or f.name}` | `{type_text}` | {_default_text(f)} | {meaning} |"
        )
    return lines


def render_plugin_options(name: str, cls: type, distribution: str = "") -> str:
    """A plugin's ``[plugins.NAME]`` table, from the class it declares through
    ``lamina_plugin_options``."""
    lines = [f"### `[plugins.{name}]` ({distribution or 'unpackaged'})", ""]
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].strip()
    if doc:
        lines += [_md(" ".join(doc.split())), ""]
    return "\n".join([*lines, *_option_table(cls), ""])


def render_stack_table(name: str, cls: type) -> str:
    """A stack's own table (``[stacks.NAME.retention]``), from its attrs class."""
    lines = [f"### `[stacks.NAME.{name}]` (lamina)", ""]
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].strip()
    if doc:
        lines += [_md(" ".join(doc.split())), ""]
    return "\n".join([*lines, *_option_table(cls), ""])


def render(
    specs: list[ComponentSpec], plugin_options: dict[str, tuple[type, str]] | None = None,
    data_sources: list[tuple[Any, str]] | None = None,
) -> str:
    """The generated block: every component, in layer order, then by name; then each kind
    of data source (``data_sources``: (spec, distribution)); then the stack's retention
    table; then each plugin's own table (``plugin_options``: name -> (class,
    distribution))."""
    from lamina.config.retention import RetentionOptions

    ordered = sorted(specs, key=lambda s: (LAYERS.index(s.layer), s.name, s.distribution))
    parts = [render_component(s) for s in ordered]
    for spec, dist in sorted(data_sources or [], key=lambda item: item[0].name):
        parts.append(render_data_source(spec, dist))
    parts.append(render_stack_table("retention", RetentionOptions))
    for name, (cls, dist) in sorted((plugin_options or {}).items()):
        parts.append(render_plugin_options(name, cls, dist))
    return "\n".join(parts).rstrip() + "\n"


def update_block(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``."""
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    return text[:start] + "\n\n" + block + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    from lamina.kernel.pluginmanager import PluginManager

    parser = argparse.ArgumentParser(prog="python -m lamina.config.reference")
    parser.add_argument("--builtin", action="store_true",
                        help="only the components that ship with lamina")
    parser.add_argument("--update", metavar="FILE", type=Path,
                        help="rewrite the generated block of this Markdown file")
    args = parser.parse_args(argv)
    pm = PluginManager(autoload=not args.builtin)
    tables = {}
    for name, cls in pm.plugin_option_classes().items():
        info = pm.plugin_info(name)
        tables[name] = (cls, info.distribution if info else "")
    data = [(spec, pm.data_source_distribution(spec.name)) for spec in pm.data_sources()]
    block = render(pm.components(), tables, data)
    if args.update is None:
        sys.stdout.write(block)
        return 0
    text = args.update.read_text(encoding="utf-8")
    args.update.write_text(update_block(text, block), encoding="utf-8")
    return 0


def _cli() -> Any:  # pragma: no cover - module entry point
    raise SystemExit(main())


if __name__ == "__main__":
    _cli()

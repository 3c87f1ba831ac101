"""Lazy package exports: a package names its public objects without importing the modules
that define them, so that ``import lamina`` (and the CLI, which imports it on every
command) stays cheap. This module must import nothing but the standard library's lightest.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, mapping: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    ``mapping`` maps an exported name to where it lives: ``"pkg.module"`` (the object of the
    same name in that module), ``"pkg.module:attr"`` (the object ``attr`` there, exported
    under another name), or the name's own submodule (``"errors": "lamina.errors"`` in
    ``lamina`` exports the module). The first access imports it and stores it in the
    package, so later accesses are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        target = mapping.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        if attr:
            value = getattr(module, attr)
        elif module_name == f"{package}.{name}":
            value = module
        else:
            value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(mapping))

    return __getattr__, __dir__

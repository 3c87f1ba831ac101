"""Entry points of one group, read straight from the ``*.dist-info`` / ``*.egg-info``
folders on ``sys.path``.

Every ``lamina`` command (``--help`` included) needs the ``lamina`` entry points, and
importing :mod:`importlib.metadata` (email, zipfile, csv...) costs more than all of
lamina's own start-up. This reader does the one thing needed: it lists the folders of each
``sys.path`` entry, reads ``entry_points.txt`` where there is one, and reads a
distribution's name and version from its metadata only when it has an entry point of the
group. As :mod:`importlib.metadata` does, the first distribution of a given (normalized)
name on ``sys.path`` wins.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator

_SUFFIXES = (".dist-info", ".egg-info")


def normalize_name(name: str) -> str:
    """PEP 503 name: ``Lamina_Audit.Log`` and ``lamina-audit-log`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


class EntryPoint:
    """One entry point, with the distribution that declares it."""

    __slots__ = ("distribution", "group", "name", "value", "version")

    def __init__(self, name: str, value: str, group: str, distribution: str, version: str):
        self.name = name
        self.value = value
        self.group = group
        self.distribution = distribution
        self.version = version

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    def load(self) -> object:
        """Import the module (and follow ``:attr.path``), as importlib.metadata does."""
        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        attr = attr.split("[")[0].strip()  # drop deprecated [extras]
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint({self.name!r}, {self.value!r}, dist={self.distribution!r})"


def _parse_entry_points(text: str, group: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == group and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def _read_metadata(folder: str) -> tuple[str, str]:
    name = version = ""
    for fname in ("METADATA", "PKG-INFO"):
        path = os.path.join(folder, fname)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break  # end of the headers
                    key, _, value = line.partition(":")
                    if key == "Name" and not name:
                        name = value.strip()
                    elif key == "Version" and not version:
                        version = value.strip()
                    if name and version:
                        break
        except OSError:
            continue
        break
    return name, version


def _name_from_folder(entry: str) -> tuple[str, str]:
    stem = entry.rsplit(".", 1)[0]
    name, _, rest = stem.partition("-")
    return name, rest.split("-")[0]


def entry_points(group: str, path: list[str] | None = None) -> Iterator[EntryPoint]:
    """The entry points of ``group`` declared by distributions on ``path`` (sys.path)."""
    seen: set[str] = set()
    for base in sys.path if path is None else path:
        folder = base or os.getcwd()
        try:
            entries = sorted(e.name for e in os.scandir(folder) if e.name.endswith(_SUFFIXES))
        except (OSError, NotADirectoryError):
            continue  # a zip file, a missing folder
        for entry in entries:
            guess_name, guess_version = _name_from_folder(entry)
            key = normalize_name(guess_name)
            if key in seen:
                continue
            seen.add(key)
            dist_dir = os.path.join(folder, entry)
            try:
                with open(os.path.join(dist_dir, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            if f"[{group}]" not in text.replace(" ", ""):
                continue
            pairs = _parse_entry_points(text, group)
            if not pairs:
                continue
            name, version = _read_metadata(dist_dir)
            for ep_name, value in pairs:
                yield EntryPoint(ep_name, value, group, name or guess_name,
                                 version or guess_version)

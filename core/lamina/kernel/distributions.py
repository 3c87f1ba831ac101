"""Installed distributions: the one place lamina reads ``*.dist-info`` / ``*.egg-info``.

The plugin manager needs the entry points of group ``lamina``, ``required_plugins`` needs
a distribution's version, and every run records the installed packages. All three come
from here, and all three agree with :mod:`importlib.metadata` (the tests compare them on
a real environment): the same distributions, the first of a given (normalized) name on
``sys.path`` winning, the same ``Name`` and ``Version``, the same entry points.

Why not :mod:`importlib.metadata` itself: every ``lamina`` command (``--help`` included)
needs the entry points, and importing it (email, zipfile, csv...) and parsing each
``METADATA`` with the email parser costs more than all of lamina's own start-up. This
reader lists each ``sys.path`` folder once, reads ``entry_points.txt`` where there is one,
and reads only the header of a distribution's metadata, only when asked for its name or
version.

It also holds the plugins lamina's project ships as separate distributions
(:data:`KNOWN_COMPONENTS`), used only to turn "component not installed" into the exact
``pip install`` line, as fsspec's ``known_implementations`` does; the core never imports
any of them.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "KNOWN_COMPONENTS",
    "KNOWN_SCHEMES",
    "Distribution",
    "EntryPoint",
    "distribution_for",
    "distribution_for_scheme",
    "distributions",
    "entry_points",
    "installed_packages",
    "installed_version",
    "normalize_name",
]

_SUFFIXES = (".dist-info", ".egg-info")


def normalize_name(name: str) -> str:
    """PEP 503 name: ``Lamina_Audit.Log`` and ``lamina-audit-log`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------- entry points


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
        """The module the entry point names (what comes before ``:``)."""
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


def _parse_entry_points(text: str) -> list[tuple[str, str, str]]:
    """(group, name, value) of each line of an ``entry_points.txt`` (an ini file)."""
    found: list[tuple[str, str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section is not None and "=" in line:
            name, _, value = line.partition("=")
            found.append((section, name.strip(), value.strip()))
    return found


# --------------------------------------------------------------------- distributions


def _read_header(path: str) -> tuple[str, str]:
    """``Name`` and ``Version`` from the header of a core-metadata file, read only up to
    the first blank line (the body is the long description)."""
    name = version = ""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "name" and not name:
                name = value.strip()
            elif key == "version" and not version:
                version = value.strip()
            if name and version:
                break
    return name, version


class Distribution:
    """One installed distribution: its metadata folder (or egg-info file), its name and
    version from the metadata (read on first use), and its entry points."""

    __slots__ = ("_entry_points", "_meta", "folder_name", "path")

    def __init__(self, path: str) -> None:
        #: the ``*.dist-info`` / ``*.egg-info`` folder (or file)
        self.path = path
        #: the distribution's name as the folder spells it (``foo_bar-1.0.dist-info``)
        self.folder_name = _name_from_folder(os.path.basename(path))
        self._meta: tuple[str, str] | None = None
        self._entry_points: list[tuple[str, str, str]] | None = None

    def _metadata(self) -> tuple[str, str]:
        if self._meta is None:
            candidates = (
                [os.path.join(self.path, "METADATA"), os.path.join(self.path, "PKG-INFO")]
                if os.path.isdir(self.path) else [self.path]
            )
            self._meta = ("", "")
            for candidate in candidates:
                try:
                    self._meta = _read_header(candidate)
                except OSError:
                    continue
                break
        return self._meta

    @property
    def name(self) -> str:
        """``Name`` of the metadata (the folder's spelling if the metadata has none)."""
        return self._metadata()[0] or self.folder_name

    @property
    def version(self) -> str:
        """``Version`` of the metadata ("" if it has none)."""
        return self._metadata()[1]

    @property
    def key(self) -> str:
        """The normalized name two copies of one distribution share."""
        return normalize_name(self.folder_name)

    def _read_entry_points(self) -> list[tuple[str, str, str]]:
        if self._entry_points is None:
            try:
                with open(os.path.join(self.path, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:  # none, or an egg-info file
                text = ""
            self._entry_points = _parse_entry_points(text)
        return self._entry_points

    def has_group(self, group: str) -> bool:
        """Whether the distribution declares an entry point of ``group`` (reads no
        metadata)."""
        return any(g == group for g, _, _ in self._read_entry_points())

    def entry_points(self, group: str | None = None) -> list[EntryPoint]:
        """The distribution's entry points (of ``group`` only, when given), in file
        order."""
        return [
            EntryPoint(name, value, g, self.name, self.version)
            for g, name, value in self._read_entry_points()
            if group is None or g == group
        ]

    def __repr__(self) -> str:
        return f"Distribution({self.name!r}, {self.version!r})"


def _name_from_folder(entry: str) -> str:
    stem = entry.rsplit(".", 1)[0]  # drop "dist-info" / "egg-info"
    return stem.partition("-")[0]


def distributions(path: Sequence[str] | None = None) -> Iterator[Distribution]:
    """The distributions installed on ``path`` (default ``sys.path``), each once: as for
    imports, the first copy of a name on the path wins. Folders that cannot be listed
    (zip files, missing folders) are skipped."""
    seen: set[str] = set()
    for base in sys.path if path is None else path:
        folder = base or os.getcwd()
        try:
            entries = sorted(e.name for e in os.scandir(folder) if e.name.endswith(_SUFFIXES))
        except OSError:  # a zip file, a missing folder, not a folder
            continue
        for entry in entries:
            dist = Distribution(os.path.join(folder, entry))
            if dist.key in seen:
                continue
            seen.add(dist.key)
            yield dist


def entry_points(group: str, path: Sequence[str] | None = None) -> Iterator[EntryPoint]:
    """The entry points of ``group`` declared by the distributions on ``path``."""
    for dist in distributions(path):
        if dist.has_group(group):
            yield from dist.entry_points(group)


def installed_version(name: str, path: Sequence[str] | None = None) -> str | None:
    """The installed version of distribution ``name`` (any spelling), or None."""
    wanted = normalize_name(name)
    for dist in distributions(path):
        if dist.key == wanted or normalize_name(dist.name) == wanted:
            return dist.version
    return None


def installed_packages(path: Sequence[str] | None = None) -> dict[str, str]:
    """Every installed distribution, name -> version, sorted by name case-insensitively."""
    found = {d.name: d.version for d in distributions(path)}
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


# --------------------------------------------------------------------- known plugins

#: (layer, component name) -> the distribution of lamina's project that provides it.
KNOWN_COMPONENTS: Mapping[tuple[str, str], str] = types.MappingProxyType({
    ("datastore", "s3"): "lamina-datastore-s3",
    ("compute", "k8s"): "lamina-compute-k8s",
    ("compute", "batch"): "lamina-compute-batch",
    ("compute", "dask"): "lamina-compute-dask",
    ("orchestrator", "airflow"): "lamina-orch-airflow",
    ("serving", "seldon"): "lamina-serving-seldon",
    ("metadata", "postgres"): "lamina-metadata-postgres",
    # online stores of the feature store (``online_store = "redis"``)
    ("online_store", "redis"): "lamina-online-redis",
    # data sources (``[stacks.S.data.NAME] plugin = "postgres"``, or a URL's scheme)
    ("data", "postgres"): "lamina-data-sql",
    ("data", "postgresql"): "lamina-data-sql",
    ("data", "mysql"): "lamina-data-sql",
    ("data", "mariadb"): "lamina-data-sql",
    ("data", "snowflake"): "lamina-data-snowflake",
})

#: URL scheme -> the datastore distribution that serves it.
KNOWN_SCHEMES: Mapping[str, str] = types.MappingProxyType({
    "s3": "lamina-datastore-s3",
    "s3a": "lamina-datastore-s3",
})


def distribution_for(layer: str, name: str) -> str | None:
    """The distribution to ``pip install`` for component ``name`` of ``layer``, if it is
    one of lamina's own plugins."""
    return KNOWN_COMPONENTS.get((layer, name))


def distribution_for_scheme(scheme: str) -> str | None:
    """The distribution to ``pip install`` for datastore URLs of ``scheme``, if known."""
    return KNOWN_SCHEMES.get(scheme)

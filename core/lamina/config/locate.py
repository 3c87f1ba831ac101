"""Which config file applies, found cheaply.

Kept apart from parsing (:mod:`lamina.config.files`) because every ``lamina`` command,
``--help`` included, asks it before loading plugins (for ``disable_plugins``).
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_NAME = "lamina.toml"
PYPROJECT_NAME = "pyproject.toml"


def _pyproject_has_lamina(path: Path) -> bool:
    # A cheap text test first: most pyproject.toml files have nothing for us.
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    if "tool.lamina" not in text and "[tool]" not in text:
        return False
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return "[tool.lamina" in text  # let read_config_file report the syntax error
    return isinstance(data.get("tool", {}).get("lamina"), dict)


def find_config_file(cwd: str | Path | None = None) -> Path | None:
    """The config file that applies to ``cwd``: walking up, the first folder with a
    ``lamina.toml`` or a ``pyproject.toml`` holding ``[tool.lamina]`` (lamina.toml wins
    in one folder). None when there is none: the embedded default stack applies."""
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT_NAME
        if pyproject.is_file() and _pyproject_has_lamina(pyproject):
            return pyproject
    return None


def find_project_root(cwd: str | Path | None = None) -> Path:
    """The folder whose ``.lamina`` holds the runs when no config file applies: walking
    up from ``cwd``, the first folder that has a ``.lamina`` folder already, else ``cwd``
    itself. So ``lamina runs`` from a subfolder of a project sees the project's runs."""
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".lamina").is_dir():
            return folder
    return here


def read_disable_plugins(path: Path) -> tuple[str, ...]:
    """Only ``disable_plugins`` of a config file (the CLI needs it before the plugins are
    loaded). Problems are left for the full read to report."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return ()
    if path.name == PYPROJECT_NAME:
        data = data.get("tool", {}).get("lamina", {})
    value = data.get("disable_plugins", []) if isinstance(data, dict) else []
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

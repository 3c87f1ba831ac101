"""Reading lamina's config: ``lamina.toml`` or ``[tool.lamina]`` in ``pyproject.toml``.

:func:`load_config` finds the file (``config_file`` > ``LAMINA_CONFIG`` > walking up from
the working directory) and checks its shape; :mod:`lamina.stack` resolves a stack from it.
Names are imported lazily: the CLI reads ``disable_plugins`` on every command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lamina._lazy import lazy_exports

if TYPE_CHECKING:
    from lamina.config.files import ConfigSource, read_config_file
    from lamina.config.locate import find_config_file
    from lamina.config.model import ComponentConfig, ProjectConfig, StackConfig, parse_config

from lamina.config.locate import CONFIG_NAME

CONFIG_ENV = "LAMINA_CONFIG"
SECRETS_NAME = "lamina.secrets.toml"

_LAZY = {
    "ConfigSource": "lamina.config.files",
    "find_config_file": "lamina.config.locate",
    "read_config_file": "lamina.config.files",
    "ComponentConfig": "lamina.config.model",
    "ProjectConfig": "lamina.config.model",
    "StackConfig": "lamina.config.model",
    "parse_config": "lamina.config.model",
}

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "SECRETS_NAME",
    "ComponentConfig",
    "ConfigSource",
    "ProjectConfig",
    "StackConfig",
    "config_path",
    "find_config_file",
    "load_config",
    "parse_config",
    "read_config_file",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def config_path(
    *,
    cwd: str | Path | None = None,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path | None:
    """The config file that applies (not read): ``config_file``, else ``LAMINA_CONFIG``,
    else the first found walking up from ``cwd``; None when there is none."""
    from lamina.config.locate import find_config_file

    env = os.environ if env is None else env
    base = Path(cwd) if cwd is not None else Path.cwd()
    explicit = config_file or env.get(CONFIG_ENV) or None
    if explicit:
        p = Path(explicit).expanduser()
        return p if p.is_absolute() else base / p
    return find_config_file(base)


def load_config(
    *,
    cwd: str | Path | None = None,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ProjectConfig:
    """The project's config, or an empty :class:`ProjectConfig` when no file applies
    (then the embedded default stack is used).

    :param cwd: where to start looking (default: the working directory).
    :param config_file: an explicit file; relative paths are relative to ``cwd``.
    :param env: the environment to read ``LAMINA_CONFIG`` from (default ``os.environ``).
    """
    from lamina.config.files import read_config_file
    from lamina.config.model import parse_config

    path = config_path(cwd=cwd, config_file=config_file, env=env)
    return parse_config(read_config_file(path) if path is not None else None)

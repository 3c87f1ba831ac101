"""Reading lamina's config: ``lamina.toml`` or ``[tool.lamina]`` in ``pyproject.toml``.

:func:`load_config` finds the file (``config_file`` > ``LAMINA_CONFIG`` > walking up from
the working directory) and checks its shape; :mod:`lamina.stack` resolves a stack from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lamina.config.files import (
    CONFIG_ENV,
    CONFIG_NAME,
    SECRETS_NAME,
    ConfigSource,
    find_config_file,
    read_config_file,
)
from lamina.config.model import ComponentConfig, ProjectConfig, StackConfig, parse_config

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "SECRETS_NAME",
    "ComponentConfig",
    "ConfigSource",
    "ProjectConfig",
    "StackConfig",
    "find_config_file",
    "load_config",
    "parse_config",
    "read_config_file",
]


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
    env = os.environ if env is None else env
    base = Path(cwd) if cwd is not None else Path.cwd()
    explicit = config_file or env.get(CONFIG_ENV) or None
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_absolute():
            p = base / p
        return parse_config(read_config_file(p))
    found = find_config_file(base)
    return parse_config(read_config_file(found) if found else None)

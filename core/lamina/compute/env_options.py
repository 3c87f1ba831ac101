"""Checking the ``env`` option of a remote compute plugin: what a task's container gets
as plain environment variables is written into a manifest or a job definition, so a
credential must never be among them. Light on purpose (only ``re``): plugins build their
option validators from it when they are imported, which ``lamina --help`` does."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_CREDENTIAL = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY|API_KEY)", re.I)


def looks_like_credential(name: str) -> bool:
    """Whether an environment variable's name suggests it holds a credential (such a value
    must come from a secret reference, never from a manifest or a command line)."""
    return bool(_CREDENTIAL.search(name))


def plain_env_validator(
    name_pattern: re.Pattern[str], *, stored_in: str, fix: str
) -> Callable[[Any, Any, dict[str, str]], None]:
    """An attrs validator for ``env``: every name matches ``name_pattern`` and none looks
    like a credential. ``stored_in`` says where a value would end up ("written into the
    Job manifest"); ``fix`` says where it belongs instead, ``{name}`` standing for the
    variable."""

    def check(instance: Any, attribute: Any, value: dict[str, str]) -> None:
        for name in value:
            if not name_pattern.match(name):
                raise ValueError(f"env: {name!r} is not a valid environment variable name")
            if looks_like_credential(name):
                raise ValueError(
                    f"env: {name!r} looks like a credential; a value in `env` is {stored_in}. "
                    + fix.replace("{name}", name)
                )

    return check

"""The builtin ``retention`` plugin: the keepers for what ships with lamina (registered
model versions, serving deployments, flow deployments, feature materializations), offered
through ``lamina_retention_keep`` like any plugin's (see :mod:`lamina.retention.keepers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.hookspecs import hookimpl

if TYPE_CHECKING:
    from lamina.stack import Stack


@hookimpl
def lamina_retention_keep(stack: Stack) -> list[str]:
    from lamina.retention.keepers import keep_reasons

    return list(keep_reasons(stack))

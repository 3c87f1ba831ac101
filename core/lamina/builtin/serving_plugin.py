"""The builtin ``local`` serving component: deployments served by ``lamina serve`` processes
on this machine (Open Inference Protocol V2 over HTTP).

Imported on every ``lamina`` invocation: only the options class lives here; the backend
and the server load when a stack builds the component.
"""

from __future__ import annotations

from typing import Any

from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec
from lamina.serving.options import LocalServingOptions


def _local_serving(options: LocalServingOptions, stack: Any) -> Any:
    from lamina.serving.local_backend import LocalServingBackend

    return LocalServingBackend(options, stack)


@hookimpl
def lamina_serving_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="serving",
            name="local",
            config=LocalServingOptions,
            factory=_local_serving,
            description="`lamina serve` processes on this machine (Open Inference Protocol V2)",
            install_hint="pip install 'lamina[serving]'",
        )
    ]

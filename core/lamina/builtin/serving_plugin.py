"""The builtin ``local`` serving component: deployments served by ``lamina serve`` processes
on this machine (Open Inference Protocol V2 over HTTP).

Imported on every ``lamina`` invocation: only the options class lives here; the backend
and the server load when a stack builds the component.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec


@attrs.frozen
class LocalServingOptions:
    """Options of the ``local`` serving component.

    :param host: the interface deployments listen on (loopback by default: a laptop's
        model server is not meant to be reachable from the network).
    :param port: the first port tried for a deployment whose spec names none.
    :param flush_seconds: the prediction log's batch interval.
    :param flush_rows: the prediction log writes a part as soon as this many rows wait.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    flush_seconds: float = 2.0
    flush_rows: int = 20_000


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

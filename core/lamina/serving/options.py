"""Options of the builtin ``local`` serving component. Only attrs here: the builtin plugin
imports this module on every ``lamina`` command."""

from __future__ import annotations

import attrs


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

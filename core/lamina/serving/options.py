"""Options of the builtin ``local`` serving component, and the server's limits. Only attrs
here: the builtin plugin imports this module on every ``lamina`` command."""

from __future__ import annotations

import attrs

#: The default largest request body (bytes): 16 MiB.
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be more than 0, got {value!r}")


@attrs.frozen
class ServerLimits:
    """What one request may cost the model server (see docs/serving.md, "Limits").

    :param max_body_bytes: a larger body is refused with 413 before it is read.
    :param inline_parse_bytes: a body up to this size is parsed and answered on the event
        loop; a larger one in a worker thread, so health checks and small requests stay
        fast while it parses.
    :param max_log_rows: the prediction log keeps at most this many rows of one request
        (the first ones); the answer covers every row.
    :param idle_timeout: seconds a connection may stay silent (after it opens, or between
        two requests on a keep-alive connection) before the server closes it.
    :param header_timeout: seconds from a request's first byte to the end of its headers.
    :param body_timeout: seconds to receive a request's whole body (408 after).
    """

    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY, validator=_positive)
    inline_parse_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    max_log_rows: int = attrs.field(default=1000, validator=_positive)
    idle_timeout: float = attrs.field(default=5.0, validator=_positive)
    header_timeout: float = attrs.field(default=10.0, validator=_positive)
    body_timeout: float = attrs.field(default=30.0, validator=_positive)


@attrs.frozen
class LocalServingOptions:
    """Options of the ``local`` serving component.

    :param host: the interface deployments listen on (loopback by default: a laptop's
        model server is not meant to be reachable from the network; any other address
        prints a warning).
    :param port: the first port tried for a deployment whose spec names none.
    :param flush_seconds: the prediction log's batch interval.
    :param flush_rows: the prediction log writes a part as soon as this many rows wait.
    :param token: when set, every request but the health checks must carry
        ``Authorization: Bearer TOKEN`` (401 otherwise). Write ``"${VAR}"`` so the value
        stays out of the config file.
    :param max_body_bytes: the largest request body (413 above).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    flush_seconds: float = 2.0
    flush_rows: int = 20_000
    token: str | None = None
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY, validator=_positive)

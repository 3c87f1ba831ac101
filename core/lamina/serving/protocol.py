"""uvicorn's HTTP protocols with the two timeouts uvicorn lacks.

uvicorn closes a keep-alive connection that stays silent after a response
(``timeout_keep_alive``), but not one that never sends a byte after it opens, nor one
that sends its headers a byte at a time (slowloris). These subclasses add both: the idle
timer also runs from the moment a connection opens, and a request's headers must be
complete within ``header_timeout`` seconds of its first byte, or the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _Timeouts:
    """The header timer, shared by the httptools and h11 subclasses."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    # provided by uvicorn's protocol classes
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def _arm_idle(self) -> None:
        # uvicorn's own keep-alive timer, started at once: a silent connection is closed
        me: Any = self
        me.timeout_keep_alive_task = self.loop.call_later(me.timeout_keep_alive,
                                                          me.timeout_keep_alive_handler)

    def _arm_header(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_expired)

    def _disarm_header(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(header_timeout: float, http: str = "auto") -> type[asyncio.Protocol]:
    """The uvicorn HTTP protocol to serve with: httptools when installed (or ``http="h11"``
    asks for h11), else h11, with the idle timer from the first byte and the header timeout."""
    if http == "h11":
        return _h11_class(header_timeout)
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _h11_class(header_timeout)

    class Protocol(_Timeouts, HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_idle()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header()

        def on_headers_complete(self) -> None:
            self._disarm_header()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header()
            super().connection_lost(exc)

    Protocol.header_timeout = header_timeout
    return Protocol


def _h11_class(header_timeout: float) -> type[asyncio.Protocol]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(_Timeouts, H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_idle()

        def data_received(self, data: bytes) -> None:
            waiting = self.conn.their_state is h11.IDLE
            super().data_received(data)
            if self.conn.their_state is h11.IDLE and waiting and data:
                self._arm_header()  # part of a request's head arrived, not all of it
            elif self.conn.their_state is not h11.IDLE:
                self._disarm_header()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header()
            super().connection_lost(exc)

    Protocol.header_timeout = header_timeout
    return Protocol

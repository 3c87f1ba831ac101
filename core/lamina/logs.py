"""Logging through structlog, set up only by the CLI or by an explicit call.

The library never configures logging on import: a host (a notebook server, a CI job)
keeps its own setup. ``lamina`` commands call :func:`configure_logging` once, after the
command line is parsed, so ``lamina --help`` does not pay for importing structlog.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

FORMATS = ("console", "json")


def level_for(verbosity: int) -> int:
    """``-v`` count to a logging level: warnings by default, info with -v, debug with -vv."""
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


def _logger_factory(*args: object) -> logging.Logger:
    # Every structlog logger is a child of "lamina", so the handler below sees plugins'
    # events too, without touching the host's root logger.
    name = args[0] if args and isinstance(args[0], str) else ""
    if not name:
        return logging.getLogger("lamina")
    return logging.getLogger(name if name.split(".")[0] == "lamina" else f"lamina.{name}")


def configure_logging(
    fmt: str = "console", *, verbosity: int = 0, stream: IO[str] | None = None
) -> None:
    """Send structlog events and the ``lamina`` stdlib loggers to ``stream`` (stderr).

    :param fmt: ``console`` (readable, coloured on a terminal) or ``json`` (one object per
        line, for log collectors).
    :param verbosity: 0 warnings, 1 info, 2+ debug.
    :param stream: where to write; standard error by default, so command output on
        standard output stays machine-readable.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    import structlog

    out = stream if stream is not None else sys.stderr
    level = level_for(verbosity)
    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        colors = hasattr(out, "isatty") and out.isatty()
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                *shared,
            ],
        )
    )
    handler.set_name("lamina")
    logger = logging.getLogger("lamina")
    for old in list(logger.handlers):
        if old.get_name() == "lamina":
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


class LibraryLogger:
    """What lamina's modules log through.

    Once :func:`configure_logging` ran (the CLI, or a host that asked for it) events go
    through structlog; until then they go to the standard ``logging`` logger of the same
    name, so an embedding host's own setup decides what is shown (by default: warnings
    and errors on stderr, nothing on stdout).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: str, event: str, **fields: object) -> None:
        import structlog

        if structlog.is_configured():
            getattr(structlog.get_logger(self.name), level)(event, **fields)
            return
        logger = logging.getLogger(self.name)
        number = logging.getLevelName(level.upper())
        if logger.isEnabledFor(number):
            text = " ".join(f"{key}={value!r}" for key, value in fields.items())
            logger.log(number, "%s %s", event, text)

    def debug(self, event: str, **fields: object) -> None:
        self._emit("debug", event, **fields)

    def info(self, event: str, **fields: object) -> None:
        self._emit("info", event, **fields)

    def warning(self, event: str, **fields: object) -> None:
        self._emit("warning", event, **fields)

    def error(self, event: str, **fields: object) -> None:
        self._emit("error", event, **fields)


def get_logger(name: str) -> LibraryLogger:
    """The logger library code uses: quiet unless the host or the CLI configured logging."""
    return LibraryLogger(name)

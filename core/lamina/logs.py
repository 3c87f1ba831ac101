"""Logging through structlog, set up only by the CLI or by an explicit call.

The library never configures logging on import: a host (a notebook server, a CI job)
keeps its own setup. ``lamina`` commands call :func:`configure_logging` once, after the
command line is parsed.

lamina's own modules log through the standard ``logging`` module under the ``lamina``
logger; the handler installed here renders those records with structlog (console or
JSON). structlog (which imports rich) is imported when the first record is actually
written, so a command that logs nothing, such as a remote ``python -m lamina task``, does
not pay for it. Plugins may use ``logging.getLogger("lamina.<plugin>")`` or
``structlog.get_logger()``; structlog loggers are routed to the same handler.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

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


def _shared_processors(structlog: Any, fmt: str) -> list:
    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
    return shared


# Set by configure_logging: the format and level structlog is configured with, once it is
# imported (on the first record actually written).
_settings: dict[str, Any] = {}


def _ensure_structlog() -> None:
    if _settings and not _settings.get("ready"):
        _settings["ready"] = True
        _configure_structlog(_settings["fmt"], _settings["level"])


def _configure_structlog(fmt: str, level: int) -> None:
    import structlog

    structlog.configure(
        processors=[
            structlog.stdlib.add_logger_name,
            *_shared_processors(structlog, fmt),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


class _StructlogHandler(logging.StreamHandler):
    """A stream handler whose structlog formatter is built on the first record."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        super().__init__(stream)
        self.fmt = fmt
        self._ready = False

    def format(self, record: logging.LogRecord) -> str:
        if not self._ready:
            self._ready = True
            import structlog

            _ensure_structlog()
            if self.fmt == "json":
                renderer: Any = structlog.processors.JSONRenderer()
            else:
                colors = bool(getattr(self.stream, "isatty", lambda: False)())
                renderer = structlog.dev.ConsoleRenderer(colors=colors)
            self.setFormatter(
                structlog.stdlib.ProcessorFormatter(
                    processor=renderer,
                    foreign_pre_chain=[
                        structlog.stdlib.add_logger_name,
                        *_shared_processors(structlog, self.fmt),
                    ],
                )
            )
        from lamina.config.secrets import LOG_REDACTOR

        return LOG_REDACTOR(super().format(record))


def configure_logging(
    fmt: str = "console", *, verbosity: int = 0, stream: IO[str] | None = None
) -> None:
    """Send the ``lamina`` loggers (and structlog events) to ``stream`` (stderr).

    :param fmt: ``console`` (readable, coloured on a terminal) or ``json`` (one object per
        line, for log collectors).
    :param verbosity: 0 warnings, 1 info, 2+ debug.
    :param stream: where to write; standard error by default, so command output on
        standard output stays machine-readable.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = stream if stream is not None else sys.stderr
    level = level_for(verbosity)
    _settings.clear()
    _settings.update(fmt=fmt, level=level, ready=False)
    if "structlog" in sys.modules:  # a plugin already uses it: route it now
        _ensure_structlog()
    handler = _StructlogHandler(out, fmt)
    handler.set_name("lamina")
    logger = logging.getLogger("lamina")
    for old in list(logger.handlers):
        if old.get_name() == "lamina":
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


# The standard practice for a library: our loggers have a do-nothing handler, so Python's
# last-resort handler does not print our warnings in a host that configured nothing. A host
# that configures logging (or the CLI, via configure_logging) decides what is shown.
logging.getLogger("lamina").addHandler(logging.NullHandler())


class LibraryLogger:
    """What lamina's modules log through: ``log.info("run started", run=run_id)``.

    Once :func:`configure_logging` ran (the CLI, or a host that asked for it) events go
    through structlog with their fields; until then they go to the standard ``logging``
    logger of the same name, so an embedding host's own setup decides what is shown (by
    default nothing: failures reach the caller as exceptions). An event below the level
    in force costs one level check and imports nothing.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: str, event: str, **fields: object) -> None:
        logger = logging.getLogger(self.name)
        number = logging.getLevelName(level.upper())
        if not logger.isEnabledFor(number):
            return
        if _settings or _host_structlog():
            import structlog

            _ensure_structlog()
            getattr(structlog.get_logger(self.name), level)(event, **fields)
            return
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


def _host_structlog() -> bool:
    # the embedding host configured structlog itself: use its pipeline
    module = sys.modules.get("structlog")
    return bool(module is not None and module.is_configured())


def get_logger(name: str) -> LibraryLogger:
    """The logger library code uses: quiet unless the host or the CLI configured logging."""
    return LibraryLogger(name)

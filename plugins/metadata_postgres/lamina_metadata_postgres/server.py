"""Where the store's server is, said without its password.

Every message the plugin writes names the server as ``postgresql://USER@HOST:PORT/DB``
(never the password, never the raw URL) and goes through :func:`mask` first, so a
password that a driver echoes back is replaced by ``****`` as well.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

MASK = "****"
_SCHEMES = ("postgresql", "postgres")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@attrs.frozen
class Server:
    """The parts of a ``postgresql://`` URL that may be printed, and the password apart.

    :param url: the URL as configured (it may carry a password: never print it).
    :param user: the role name, or ``""`` (libpq then uses the operating-system user).
    :param host: the host, ``""`` for the default (a local socket).
    :param port: the port as written, or ``""``.
    :param dbname: the database, or ``""``.
    :param password: the password from the URL or the ``password`` option, or ``""``.
    """

    url: str = attrs.field(repr=False)
    user: str = ""
    host: str = ""
    port: str = ""
    dbname: str = ""
    password: str = attrs.field(default="", repr=False)

    @property
    def display(self) -> str:
        """``postgresql://USER@HOST:PORT/DB``: what messages call the server."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{user}{self.host or 'localhost'}{port}/{self.dbname}"

    @property
    def url_has_password(self) -> bool:
        """Whether the URL itself carries a password (rather than the option or libpq)."""
        try:
            return bool(urlsplit(self.url).password) or "password=" in self.url
        except ValueError:
            return False

    def mask(self, text: str) -> str:
        """``text`` with the password (and the raw URL) replaced by ``****``."""
        return mask(text, self.password, self.url)


def mask(text: str, *secrets: str) -> str:
    """``text`` with every non-empty secret in ``secrets`` replaced by ``****``; a
    URL among them is replaced by its form without the password."""
    for secret in secrets:
        if not secret:
            continue
        if "://" in secret:
            text = text.replace(secret, _without_password(secret))
        elif len(secret) >= 1:
            text = text.replace(secret, MASK)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1" + MASK, text, flags=re.I)


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{MASK}@{netloc}").geturl()


def check_url(url: str) -> None:
    """Raise :class:`ValueError` (with a message fit for an options error) unless ``url``
    is a ``postgresql://`` URL with a database name."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"url is not a valid postgresql:// URL ({_without_password(url)}): "
                         f"{exc}") from None
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            "url must look like postgresql://USER@HOST:5432/DATABASE, got "
            f"{_without_password(url)!r}"
        )
    if not parts.path.strip("/"):
        raise ValueError(
            f"url {_without_password(url)!r} names no database: add /DATABASE after the host"
        )


def check_identifier(value: str, what: str) -> None:
    """Raise :class:`ValueError` unless ``value`` is a plain PostgreSQL identifier."""
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{what} must be a plain PostgreSQL identifier (letters, digits, _; at most 63; "
            f"not starting with a digit), got {value!r}"
        )


def parse(url: str, password: str | None = None) -> Server:
    """A :class:`Server` from a ``postgresql://`` URL (checked with :func:`check_url`)."""
    check_url(url)
    parts = urlsplit(url)
    query: dict[str, Any] = {}
    for item in parts.query.split("&"):
        if "=" in item:
            key, value = item.split("=", 1)
            query[key] = unquote(value)
    host = unquote(parts.hostname or query.get("host", ""))
    port = str(parts.port or query.get("port", ""))
    return Server(
        url=url,
        user=unquote(parts.username or query.get("user", "")),
        host=host,
        port=port,
        dbname=unquote(parts.path.lstrip("/")),
        password=password or unquote(parts.password or query.get("password", "")),
    )

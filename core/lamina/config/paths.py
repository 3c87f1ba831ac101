"""Paths and ``file://`` URLs as a config or a command line gives them, on every platform.

One set of rules, so that a config written on Windows reads the same on Linux and macOS
where it can, and a datastore written on Linux opens on Windows:

* a plain path may use ``/`` or (on Windows) ``\\``, a drive letter (``C:\\data``) or a UNC
  share (``\\\\server\\share\\data``); ``~`` is the home folder;
* ``file://PATH`` is the path after ``file://``: ``file:///abs/path``,
  ``file:///C:/Users/me/.lamina`` and ``file://C:\\Users\\me\\.lamina`` (Windows), and
  ``file://.lamina`` (relative, lamina's shorthand); ``file://localhost/...`` is the same
  as ``file:///...``; ``%XX`` escapes are decoded (``Path.as_uri()`` writes them); a UNC
  share is ``file:////server/share/...``;
* a single letter before ``:`` is a Windows drive, never a URL scheme (``C:/data``);
* a relative path is relative to a base folder (the project root).

Every function takes ``windows=`` (default: whether this is Windows), so the rules of
either platform can be checked on any machine.

Names stored as files (record keys, step names) must be valid on every platform:
:func:`portable_name_problem` says what is wrong with one.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from urllib.parse import unquote

__all__ = [
    "WINDOWS_RESERVED_NAMES",
    "file_url_to_path",
    "is_absolute_path",
    "is_windows_path",
    "local_path",
    "portable_name_problem",
    "split_scheme",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_DRIVE = re.compile(r"^[A-Za-z][:|]([\\/]|$)")
_LOCAL_SCHEMES = ("file", "local")

#: File names Windows refuses whatever their extension (``con.json`` too), any case.
WINDOWS_RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in (*range(1, 10), "¹", "²", "³")}
    | {f"lpt{i}" for i in (*range(1, 10), "¹", "²", "³")}
)
_WINDOWS_REFUSED_CHARS = frozenset('<>:"/\\|?*') | {chr(c) for c in range(32)}


def _is_windows(windows: bool | None) -> bool:
    return os.name == "nt" if windows is None else windows


def split_scheme(text: str) -> tuple[str, str]:
    """``("s3", "bucket/x")`` for ``s3://bucket/x``; ``("", text)`` for a plain path,
    including one with a drive letter (``C:\\data``, ``C://data``). The scheme is lower
    case."""
    match = _SCHEME.match(text)
    if match is None or len(match.group(1)) == 1:  # "C://x" is a drive, not a scheme
        return "", text
    return match.group(1).lower(), text[match.end() :]


def _file_url_path(rest: str, windows: bool) -> str:
    """The path of ``file://`` + ``rest`` (see the module's docstring)."""
    if rest.lower().startswith("localhost/"):
        rest = rest[len("localhost") :]
    rest = unquote(rest)
    if windows:
        body = rest.lstrip("/")
        if _DRIVE.match(body) and rest.startswith("/"):  # file:///C:/x -> C:/x
            rest = body
        if _DRIVE.match(rest):
            rest = rest[0] + ":" + rest[2:]  # the old C| form
        if rest.startswith("//"):  # file:////server/share -> \\server\share
            rest = "//" + rest.lstrip("/")
    return rest


def file_url_to_path(url: str, *, windows: bool | None = None) -> str:
    """The path a ``file://`` (or ``local://``) URL names, as written: not made absolute
    (``file://.lamina`` -> ``.lamina``). A plain path is returned as it is.

    >>> file_url_to_path("file:///C:/My%20Data", windows=True)
    'C:/My Data'
    """
    scheme, rest = split_scheme(url)
    if not scheme:
        return url
    if scheme not in _LOCAL_SCHEMES:
        raise ValueError(f"{url!r} is a {scheme}:// URL, not a file URL")
    return _file_url_path(rest, _is_windows(windows))


def is_windows_path(text: str) -> bool:
    """Whether ``text`` is a Windows path with a drive (``C:\\data``, ``C:/data``) or a
    UNC share (``\\\\server\\share``), on any platform."""
    return bool(_DRIVE.match(text)) or text.startswith("\\\\")


def is_absolute_path(path: str, *, windows: bool | None = None) -> bool:
    """Whether ``path`` is absolute for the platform (Windows: a drive and a root, or a
    UNC share; elsewhere: a leading ``/``)."""
    if _is_windows(windows):
        drive, rest = ntpath.splitdrive(path)
        return bool(drive) and (drive.startswith(("\\\\", "//")) or rest[:1] in ("\\", "/"))
    return path.startswith("/")


def local_path(
    path_or_url: str, base: str | os.PathLike[str] | None = None, *, windows: bool | None = None
) -> str | None:
    """The absolute, normalized local path that a path or a ``file://``/``local://`` URL
    names, a relative one taken from ``base`` (default: the working directory); None for
    a URL of another scheme (``s3://...``), which is not a local path.

    >>> local_path("file:///C:/Users/me/.lamina", windows=True)
    'C:\\\\Users\\\\me\\\\.lamina'
    >>> local_path("file://.lamina", "/srv/project", windows=False)
    '/srv/project/.lamina'
    """
    win = _is_windows(windows)
    scheme, rest = split_scheme(path_or_url)
    if scheme and scheme not in _LOCAL_SCHEMES:
        return None
    path = _file_url_path(rest, win) if scheme else path_or_url
    flavour = ntpath if win else posixpath
    if path.startswith("~"):
        path = flavour.expanduser(path) if win == (os.name == "nt") else path
    if not is_absolute_path(path, windows=win):
        folder = os.fspath(base) if base is not None else os.getcwd()
        path = flavour.join(folder, path)
    return flavour.normpath(path)


def portable_name_problem(name: str) -> str | None:
    """What makes ``name`` unusable as a file or folder name on some platform (Windows
    refuses ``<>:"/\\|?*``, control characters, a trailing dot or space, and device
    names such as ``con`` or ``aux.json``), or None when it is fine everywhere."""
    if not name:
        return "it is empty"
    bad = sorted({c for c in name if c in _WINDOWS_REFUSED_CHARS})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"it holds {shown}, which Windows does not allow in a file name"
    if name[-1] in ". ":
        return "it ends with a dot or a space, which Windows drops from file names"
    stem = name.split(".", 1)[0].rstrip(" ").lower()
    if stem in WINDOWS_RESERVED_NAMES:
        return f"{stem!r} is a device name on Windows, where no file can be named so"
    return None

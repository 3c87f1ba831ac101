"""The environment a run executed in: Python, packages, user, host and git state.

Recorded with every run so that "it worked last week" can be answered by ``lamina diff``:
which package moved, whose run it was, on which machine, from which commit.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import socket
import subprocess

from lamina.kernel.distributions import installed_packages as _scan_installed

GIT_TIMEOUT = 10.0  # seconds; a hung git (network filesystem, huge repo) must not hang a run


def python_version() -> str:
    """The interpreter version, e.g. ``3.11.7``."""
    return platform.python_version()


def current_user() -> str:
    """Who started the run: ``LAMINA_USER`` if set (CI, shared service accounts), else the
    login name. Never raises: containers often run as a uid with no passwd entry."""
    user = os.environ.get("LAMINA_USER", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # KeyError / OSError when the uid has no name
        getuid = getattr(os, "getuid", None)
        return f"uid{getuid()}" if getuid else "unknown"


def hostname() -> str:
    """This machine's host name, as recorded with each run (and used to detect crashed
    runs: a run whose process is gone on its own host)."""
    return socket.gethostname()


@functools.cache
def _installed_packages() -> tuple[tuple[str, str], ...]:
    return tuple(_scan_installed().items())


def installed_packages() -> dict[str, str]:
    """Installed distributions, name -> version, sorted by name (case-insensitively).

    Computed once per process: scanning site-packages costs tens of milliseconds and the
    set of installed packages does not change under a running flow.
    """
    return dict(_installed_packages())


def _git(args: list[str], cwd: str) -> str | None:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # git missing, timeout, bad cwd
        return None
    return done.stdout if done.returncode == 0 else None


def _in_repository(folder: str) -> bool:
    """Whether git could find a repository for ``folder``: a ``.git`` folder or file in it
    or a parent, or ``GIT_DIR`` set (then git decides)."""
    if os.environ.get("GIT_DIR"):
        return True
    current = os.path.abspath(folder)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


def git_state(path: str) -> tuple[str, bool | None]:
    """The commit and dirty flag of the git repository holding ``path``.

    Returns ``(sha, dirty)``; ``("", None)`` when ``path`` is not in a repository, the
    repository has no commit yet, git is not installed, or git does not answer within
    :data:`GIT_TIMEOUT` seconds. Dirty means a tracked file differs from the commit
    (untracked files do not count: the code snapshot records what the run imported).
    """
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not _in_repository(folder):
        return "", None  # no git process to start (tens of milliseconds) for nothing
    sha = _git(["rev-parse", "--verify", "--quiet", "HEAD"], folder)
    if not sha or not sha.strip():
        return "", None
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    dirty = None if status is None else bool(status.strip())
    return sha.strip(), dirty

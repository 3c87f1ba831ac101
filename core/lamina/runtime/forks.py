"""Libraries that cannot live in a forked copy of this process.

delta-rs (the ``deltalake`` package) keeps a Rust async runtime per process and panics
when a forked child uses the parent's ("Forked process detected"). Once such a library
is live here, the local compute stops forking workers and starts them fresh (forkserver)
for the rest of the process. A source or plugin that starts one calls
:func:`mark_fork_unsafe` (``lamina.sdk``) right after.
"""

from __future__ import annotations

_REASONS: list[str] = []


def mark_fork_unsafe(reason: str) -> None:
    """Say that this process now holds something a forked child cannot use (``reason``
    names it, for the log: ``"deltalake (its tokio runtime)"``)."""
    if reason not in _REASONS:
        _REASONS.append(reason)


def fork_unsafe_reason() -> str | None:
    """What makes forking this process unsafe, or None."""
    return ", ".join(_REASONS) or None

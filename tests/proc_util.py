"""Helpers for tests that drive lamina in child processes."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child a test will interrupt: Ctrl-C as in a terminal, even when
    the test run itself was started in the background (where SIGINT is ignored, and the
    children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

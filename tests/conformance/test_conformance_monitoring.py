"""The builtin monitor (numpy/scipy statistics, HTML report) passes the monitoring
conformance suite, built through a stack as ``monitoring = "builtin"`` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lamina
from lamina.testing import MonitorSuite


class TestBuiltinMonitor(MonitorSuite):
    @pytest.fixture
    def monitor(self, tmp_path: Path) -> Iterator[Any]:
        (tmp_path / "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\nmonitoring = { plugin = "builtin" }\n'
        )
        with lamina.load_stack("local", cwd=tmp_path, env={}) as stack:
            yield stack.component("monitoring")

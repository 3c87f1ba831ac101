"""The builtin ``local`` serving backend (``lamina serve`` processes) passes the serving
conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envs_util import free_port

import lamina
from lamina.testing import ServingBackendSuite


@pytest.mark.slow  # starts model servers
class TestLocalServing(ServingBackendSuite):
    @pytest.fixture
    def serving_stack(self, tmp_path: Path) -> Iterator[Any]:
        (tmp_path / "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\n'
            'compute = { plugin = "local", workers = 1 }\n'
            'orchestrator = { plugin = "local", progress = "off" }\n'
            f'serving = {{ plugin = "local", port = {free_port()}, flush_seconds = 0.2 }}\n'
        )
        with lamina.load_stack("local", cwd=tmp_path, env={}) as stack:
            yield stack
            backend = stack.component("serving")
            for deployment in backend.list_deployments():  # a failed test leaves none running
                backend.undeploy(deployment["name"])

"""Helpers the suites share: flows written into a project, and the error for a fixture
the author forgot to override."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.flow import Flow


def write_flow(folder: str | Path, filename: str, source: str) -> Flow:
    """Write ``source`` (a flow module's text) to ``folder/filename`` and load its flow.

    The file lives in the project, as a user's flow file does, so a remote task process
    (``python -m lamina task``) finds it in the run's code snapshot.

    :param folder: the project folder (usually ``stack.project_root``).
    :param filename: the file's name, ending in ``.py``; unique per test avoids clashes.
    :param source: the module's text; it is dedented.
    """
    from lamina.flow.loader import load_flow_file

    path = Path(folder) / filename
    path.write_text(textwrap.dedent(source))
    return load_flow_file(path)


def missing_fixture(suite: Any, fixture: str, example: str) -> NoReturn:
    """Raise the error a suite gives when its subclass did not override ``fixture``."""
    name = type(suite).__name__
    raise LaminaError(
        f"{name} runs a conformance suite but does not define the {fixture!r} fixture "
        "that builds the component under test",
        hint=f"add to class {name}:\n\n    @pytest.fixture\n    def {fixture}(self, ...):\n"
        f"        {example}\n\n(see docs/testing.md)",
    )

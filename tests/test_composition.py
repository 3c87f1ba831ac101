"""Composition: a plugin wraps the builtin file datastore through lamina.sdk and adds only
its own logic (a size limit), as the in-house plugin of examples/audit_plugin does."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from kernel_fixtures.helpers import audit_plugin, install_all, run_lamina  # noqa: F401

HERE = Path(__file__).resolve().parent

FLOW = textwrap.dedent('''
    from lamina import Flow

    flow = Flow("sized")

    @flow.step
    def small() -> bytes:
        return b"x" * 100

    @flow.step
    def big(small: bytes, size: int = 10) -> bytes:
        return small * size
''')

#: A complete wrapped datastore plugin in under 30 lines: all it holds is its own logic.
PLUGIN = textwrap.dedent('''
    import os
    import attrs
    from lamina.sdk import ComponentSpec, DatastoreError, DatastoreWrapper, hookimpl

    @attrs.frozen
    class Options:
        url: str = ".lamina"
        limit: int = 1000

    class Limited(DatastoreWrapper):
        def commit_blob(self, staged_path, key):
            if os.path.getsize(staged_path) > self.limit:
                raise DatastoreError(f"over the limit of {self.limit} bytes")
            return self.inner.commit_blob(staged_path, key)

    def build(options, stack):
        store = Limited(stack.build_component("datastore", "file", {"url": options.url}))
        store.limit = options.limit
        return store

    @hookimpl
    def lamina_datastores():
        return [ComponentSpec(layer="datastore", name="limited", config=Options, factory=build)]
''')


def test_a_wrapped_file_datastore_fits_in_under_30_lines():
    lines = [line for line in PLUGIN.splitlines() if line.strip()]
    assert len(lines) < 30


def _project(tmp_path: Path, datastore: str) -> Path:
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "lamina.toml").write_text(f"[stacks.s]\ndatastore = {datastore}\n")
    return tmp_path


def test_the_example_plugin_size_limits_the_file_datastore(tmp_path, audit_plugin):  # noqa: F811
    cwd = _project(tmp_path, '{ plugin = "sized", url = "store", max_object_bytes = 20000 }')
    ok = run_lamina(["run", "flow.py", "--set", "size=2"], cwd=cwd, paths=[audit_plugin])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert any((cwd / "store" / "objects").rglob("*"))  # the wrapped file datastore stored it
    over = run_lamina(["run", "flow.py", "--set", "size=500"], cwd=cwd, paths=[audit_plugin])
    assert over.returncode != 0
    assert "over the limit of 20,000" in over.stdout + over.stderr
    assert "raise max_object_bytes" in over.stdout + over.stderr


@pytest.fixture(scope="session")
def limited_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PLUGIN above as a real distribution, found through its entry point; beside it the
    test compute that runs every task as a ``python -m lamina task`` process."""
    project = tmp_path_factory.mktemp("limited-src")
    (project / "lamina_test_limited").mkdir()
    (project / "lamina_test_limited" / "__init__.py").write_text(PLUGIN)
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [project]
        name = "lamina-test-limited"
        version = "0.1.0"
        [project.entry-points.lamina]
        limited = "lamina_test_limited"
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
    '''))
    base = tmp_path_factory.mktemp("limited")
    return install_all(base, {"limited": project,
                              "sized": HERE / "task_fixtures" / "sized"})["limited"]


def test_remote_tasks_run_through_the_wrapped_datastore(tmp_path, limited_plugin):
    sized = limited_plugin.parent / "sized"  # the subprocess compute
    cwd = _project(tmp_path, '{ plugin = "limited", url = "store", limit = 20000 }')
    with (cwd / "lamina.toml").open("a") as f:
        f.write('compute = "subprocess"\n')
    commands = tmp_path / "commands.jsonl"
    env = {"SIZED_COMMANDS": str(commands)}
    ok = run_lamina(["run", "flow.py", "--set", "size=2"], cwd=cwd,
                    paths=[limited_plugin, sized], **env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    launched = [json.loads(line) for line in commands.read_text().splitlines()]
    assert len(launched) == 2 and all("task" in c and "--datastore-spec" in c for c in launched)
    spec = json.loads(launched[0][launched[0].index("--datastore-spec") + 1])
    assert spec["component"] == "limited"  # the task rebuilds the wrapper, not a file store
    over = run_lamina(["run", "flow.py", "--set", "size=500"], cwd=cwd,
                      paths=[limited_plugin, sized], **env)
    assert over.returncode != 0
    assert "over the limit of 20000 bytes" in over.stdout + over.stderr

"""Composition: a plugin wraps the builtin file datastore through lamina.sdk and adds only
its own logic (a size limit), as the in-house plugin of examples/audit_plugin does."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kernel_fixtures.helpers import audit_plugin, run_lamina  # noqa: F401  (session fixture)

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

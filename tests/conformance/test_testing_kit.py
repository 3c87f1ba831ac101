"""The conformance kit itself: the example in docs/testing.md passes its suite, a broken
backend fails exactly the tests of what it breaks, a forgotten fixture is named, and
``import lamina`` does not load the kit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "testing.md"


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh process on ``folder`` (its own rootdir, no cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMINA_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
         "--rootdir", str(folder), *args, str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )


def outcomes(output: str, kind: str) -> set[str]:
    """``Class::test`` of every FAILED (or ERROR) line of pytest's short summary."""
    found = re.findall(rf"^{kind} \S+?::(\S+::\S+?)(?: - |$)", output, re.MULTILINE)
    return {re.sub(r"\[.*\]$", "", name) for name in found}


BROKEN = '''
import pytest

from lamina.builtin.file_datastore import FileDatastore
from lamina.testing import DatastoreSuite, MetadataSuite


class Overwrites(FileDatastore):
    """Ignores ``exclusive``: an exclusive record is overwritten."""

    def put_record(self, key, data, *, exclusive=False):
        return super().put_record(key, data, exclusive=False)  # a plain write: always wins


class ListsByStringPrefix(FileDatastore):
    """Lists ``runs/r1`` as a string prefix: ``runs/r10/...`` leaks in."""

    def list_records(self, prefix):
        return [k for k in super().list_records("") if k.startswith(prefix.strip("/"))]


class TestOverwrites(DatastoreSuite):
    @pytest.fixture
    def datastore(self, tmp_path):
        return Overwrites(str(tmp_path / "store"))


class TestListsByStringPrefix(DatastoreSuite):
    @pytest.fixture
    def datastore(self, tmp_path):
        return ListsByStringPrefix(str(tmp_path / "store"))


class TestForgotTheFixture(MetadataSuite):
    pass
'''


def test_the_kit_passes_the_documented_example_and_fails_broken_backends(
    tmp_path: Path,
) -> None:
    """One pytest process: the datastore of docs/testing.md as written, two datastores
    broken on purpose, and a suite whose fixture was forgotten."""
    blocks = re.findall(r"```python\n# (\w+\.py)\n(.*?)```", DOC.read_text(), re.DOTALL)
    files = dict(blocks)
    assert set(files) == {"my_datastore.py", "test_my_datastore.py"}, set(files)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "test_broken.py").write_text(textwrap.dedent(BROKEN))
    done = pytest_in(tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-5000:]
    assert outcomes(out, "FAILED") == {
        "TestOverwrites::test_an_exclusive_record_is_never_overwritten",
        "TestOverwrites::test_of_concurrent_exclusive_writers_exactly_one_wins",
        "TestListsByStringPrefix::test_listing_treats_the_prefix_as_a_folder",
    }, out[-5000:]
    # the forgotten fixture: every test of that class errors, saying what to add
    errors = outcomes(out, "ERROR")
    assert errors and all(e.startswith("TestForgotTheFixture::") for e in errors), errors
    assert "does not define the 'metadata_store' fixture" in out
    assert "def metadata_store(self, ...):" in out
    # assertion rewriting works inside the suites: the compared values are shown
    assert "+  where True = put_record('runs/r1/manifest.json', b'second'" in out, out[-5000:]
    # the documented example passed all its tests (14, the count the page shows) and
    # skipped the 4 retention and the 3 saving-from-memory ones (it offers neither); the
    # broken classes ran the other 14 + 15 suite tests and skipped the unreachable check
    # and the 3 saving-from-memory ones, and the forgotten fixture skipped that check and
    # errored on its 21 other tests
    assert re.search(r"\b3 failed, 43 passed, 16 skipped, 21 errors\b", out), out[-2000:]
    assert "14 passed, 7 skipped" in DOC.read_text()


def test_importing_lamina_does_not_load_the_kit() -> None:
    code = ("import sys, lamina, lamina.stack, lamina.interfaces; "
            "print(sorted(m for m in sys.modules if m.startswith('lamina.testing') "
            "or m in ('pytest', '_pytest')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_kit_without_pytest_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['pytest'] = None  # as if pytest were not installed\n"
            "import lamina.testing")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "needs pytest" in done.stderr and "pip install 'lamina[testing]'" in done.stderr

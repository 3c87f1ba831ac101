"""Run ids, environment capture and the code snapshot / code hashes of a run."""

from __future__ import annotations

import datetime as dt
import getpass
import importlib
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lamina.versioning import code, environment, ids

# --- ids ------------------------------------------------------------------------------------


def test_run_ids_are_readable_utc_times_and_sorted_in_creation_order():
    first = ids.new_run_id()
    assert ids.is_run_id(first) and not ids.is_run_id(first[:12])
    made_at = dt.datetime.strptime(first[:18] + "000", "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    assert abs((made_at - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    made = [first] + [ids.new_run_id() for _ in range(300)]
    assert made == sorted(made) and len(set(made)) == len(made)


ID_MAKER = textwrap.dedent("""
    import sys, time
    from lamina.versioning.ids import new_run_id
    start = float(sys.argv[1])
    while time.time() < start:  # every process starts making ids at the same moment
        pass
    print("\\n".join(new_run_id() for _ in range(300)))
""")


def test_processes_making_ids_at_once_never_collide():
    start = time.time() + 0.8
    makers = [
        subprocess.Popen(
            [sys.executable, "-c", ID_MAKER, str(start)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    made, suffixes = [], set()
    for maker in makers:
        out, _ = maker.communicate(timeout=60)
        assert maker.returncode == 0
        made.extend(out.split())
        suffixes.add(frozenset(run_id[-6:] for run_id in out.split()))
    assert len(suffixes) == 6 and all(len(s) == 1 for s in suffixes)  # one per process
    assert len(made) == 1800 and len(set(made)) == 1800
    assert all(ids.is_run_id(run_id) for run_id in made)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_continue_its_parents_sequence():
    ids.new_run_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write, "\n".join(ids.new_run_id() for _ in range(200)).encode())
        os._exit(0)
    os.close(write)
    mine = {ids.new_run_id() for _ in range(200)}
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        theirs = set(pipe.read().split())
    assert len(theirs) == 200 and not (mine & theirs)


# --- environment ----------------------------------------------------------------------------


def test_python_version_and_hostname():
    assert environment.python_version() == platform.python_version()
    assert environment.hostname() and environment.hostname() == platform.node()


def test_current_user_prefers_lamina_user(monkeypatch):
    monkeypatch.setenv("LAMINA_USER", "ci-bot")
    assert environment.current_user() == "ci-bot"
    monkeypatch.delenv("LAMINA_USER")
    assert environment.current_user() == getpass.getuser()


def test_current_user_never_raises_without_a_login_name(monkeypatch):
    monkeypatch.delenv("LAMINA_USER", raising=False)

    def no_name():
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert environment.current_user()  # a uid-based name, not an exception


def test_installed_packages_are_sorted_versions_and_cached():
    import pytest as pytest_module

    packages = environment.installed_packages()
    assert packages["pytest"] == pytest_module.__version__
    assert list(packages) == sorted(packages, key=str.lower)
    packages["pytest"] = "tampered"
    assert environment.installed_packages()["pytest"] == pytest_module.__version__


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@needs_git
def test_git_state_of_a_real_repository(tmp_path):
    repo = tmp_path / "project"
    (repo / "flows").mkdir(parents=True)
    flow = repo / "flows" / "churn.py"
    flow.write_text("print('v1')\n")
    git(repo, "init", "-q")
    assert environment.git_state(str(flow)) == ("", None)  # no commit yet
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1")
    sha = git(repo, "rev-parse", "HEAD")
    assert environment.git_state(str(flow)) == (sha, False)
    assert environment.git_state(str(repo)) == (sha, False)
    (repo / "scratch.txt").write_text("untracked files do not make a repo dirty")
    assert environment.git_state(str(flow)) == (sha, False)
    flow.write_text("print('v2')\n")
    assert environment.git_state(str(flow)) == (sha, True)


def test_git_state_outside_a_repository_or_without_git(tmp_path, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert environment.git_state(str(folder)) == ("", None)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert environment.git_state(str(folder)) == ("", None)


# --- code snapshot --------------------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def import_from(monkeypatch):
    """Import modules from a folder, forgetting them (and the folder) afterwards."""
    before = set(sys.modules)

    def load(folder: Path, name: str):
        monkeypatch.syspath_prepend(str(folder))
        for module in set(sys.modules) - before:  # a previous version of the same names
            del sys.modules[module]
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield load
    for module in set(sys.modules) - before:
        del sys.modules[module]


def test_local_modules_are_the_flow_and_the_project_modules_it_imports(tmp_path, import_from):
    root = tmp_path / "project"
    write(
        root,
        {
            "snapflow.py": """
            import json
            import snaphelpers
            import snappkg.sub
            import snapvendored
            import snapcached
        """,
            "snaphelpers.py": "X = 1\n",
            "snappkg/__init__.py": "",
            "snappkg/sub.py": "Y = 2\n",
            "snapunused.py": "Z = 3\n",
            ".venv/pyvenv.cfg": "home = /usr/bin\n",
            ".venv/lib/python3.11/site-packages/snapvendored.py": "V = 4\n",
            ".lamina/snapcached.py": "C = 5\n",
        },
    )
    sys.path.insert(0, str(root / ".venv" / "lib" / "python3.11" / "site-packages"))
    sys.path.insert(0, str(root / ".lamina"))
    try:
        import_from(root, "snapflow")
    finally:
        sys.path.remove(str(root / ".venv" / "lib" / "python3.11" / "site-packages"))
        sys.path.remove(str(root / ".lamina"))
    files = code.local_modules(str(root / "snapflow.py"), str(root))
    assert files == sorted(
        str((root / name).resolve())
        for name in ("snapflow.py", "snaphelpers.py", "snappkg/__init__.py", "snappkg/sub.py")
    )

    snapshot = code.snapshot_files(files, str(root))
    assert list(snapshot) == [
        "snapflow.py",
        "snaphelpers.py",
        "snappkg/__init__.py",
        "snappkg/sub.py",
    ]
    assert snapshot["snappkg/sub.py"] == b"Y = 2\n"


def test_code_hash_is_order_independent_and_sees_edits_and_renames():
    files = {"flow.py": "k1", "helpers.py": "k2"}
    reordered = {"helpers.py": "k2", "flow.py": "k1"}
    assert code.code_hash(files) == code.code_hash(reordered)
    assert code.code_hash(files) != code.code_hash({"flow.py": "k1", "helpers.py": "k3"})
    assert code.code_hash(files) != code.code_hash({"flow.py": "k1", "util.py": "k2"})
    assert len(code.code_hash({})) == 64


# --- step code hash -------------------------------------------------------------------------

FLOW_V1 = """
    import json
    import hashmod_helpers
    from hashmod_helpers import normalise

    THRESHOLD = 0.5

    # a comment about the module
    def unrelated():
        return "not used by any step"

    class Scaler:
        def scale(self, x):
            return x * factor()

    def factor():
        return 2

    def step(raw):
        # inside the step
        return [normalise(v) * THRESHOLD for v in raw] + [json.dumps(raw)]

    def step_via_module(raw):
        return hashmod_helpers.clean(raw)

    def step_with_class(raw):
        return Scaler().scale(raw)

    def even(n):
        return n == 0 or odd(n - 1)

    def odd(n):
        return n != 0 and even(n - 1)
"""

HELPERS_V1 = """
    def normalise(v):
        return v / 10

    def clean(raw):
        return [r for r in raw if r]
"""


def hashes(
    tmp_path, import_from, version: str, flow: str = FLOW_V1, helpers: str = HELPERS_V1
) -> dict[str, str]:
    folder = tmp_path / version
    write(folder, {"hashmod_flow.py": flow, "hashmod_helpers.py": helpers})
    module = import_from(folder, "hashmod_flow")
    names = ("step", "step_via_module", "step_with_class", "even", "unrelated")
    return {name: code.function_code_hash(getattr(module, name)) for name in names}


def test_step_hash_is_stable_and_ignores_unrelated_edits(tmp_path, import_from):
    base = hashes(tmp_path, import_from, "v1")
    assert len(base["step"]) == 64 and len(set(base.values())) == len(base)
    assert hashes(tmp_path, import_from, "same") == base  # another folder, same code

    edited = FLOW_V1.replace('"not used by any step"', '"changed"').replace(
        "# a comment about the module", "# another comment\n    # and more"
    )
    again = hashes(tmp_path, import_from, "unrelated", flow=edited)
    assert again["step"] == base["step"]
    assert again["step_via_module"] == base["step_via_module"]
    assert again["unrelated"] != base["unrelated"]


def test_step_hash_follows_the_helpers_it_calls(tmp_path, import_from):
    base = hashes(tmp_path, import_from, "v1")
    new_helper = hashes(
        tmp_path, import_from, "helper", helpers=HELPERS_V1.replace("v / 10", "v / 100")
    )
    assert new_helper["step"] != base["step"]  # from hashmod_helpers import normalise
    assert new_helper["step_via_module"] == base["step_via_module"]

    new_clean = hashes(
        tmp_path, import_from, "clean", helpers=HELPERS_V1.replace("if r]", "if r is not None]")
    )
    assert new_clean["step_via_module"] != base["step_via_module"]  # hashmod_helpers.clean
    assert new_clean["step"] == base["step"]

    transitive = hashes(
        tmp_path, import_from, "factor", flow=FLOW_V1.replace("return 2", "return 3")
    )
    assert transitive["step_with_class"] != base["step_with_class"]  # via Scaler.scale
    assert transitive["step"] == base["step"]

    constant = hashes(
        tmp_path, import_from, "const", flow=FLOW_V1.replace("THRESHOLD = 0.5", "THRESHOLD = 0.7")
    )
    assert constant["step"] != base["step"]

    comment = hashes(
        tmp_path,
        import_from,
        "comment",
        flow=FLOW_V1.replace("# inside the step", "# inside, reworded"),
    )
    assert comment["step"] != base["step"]


def test_step_hash_is_the_same_in_another_process(tmp_path, import_from):
    base = hashes(tmp_path, import_from, "v1")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import hashmod_flow;"
        "from lamina.versioning.code import function_code_hash as h;"
        "print(h(hashmod_flow.step), h(hashmod_flow.even))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "v1")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [base["step"], base["even"]]


def test_step_hash_without_source_uses_the_bytecode():
    def compile_step(body: str):
        namespace: dict = {}
        exec(compile(f"def step(x):\n    return {body}\n", "<string>", "exec"), namespace)
        return namespace["step"]

    first, same, other = compile_step("x + 1"), compile_step("x + 1"), compile_step("x + 2")
    assert code.function_code_hash(first) == code.function_code_hash(same)
    assert code.function_code_hash(first) != code.function_code_hash(other)


def test_step_hash_sees_through_decorators(tmp_path, import_from):
    write(
        tmp_path / "deco",
        {
            "hashmod_deco.py": """
        import functools

        def traced(fn):
            @functools.wraps(fn)
            def wrapper(*a, **k):
                return fn(*a, **k)
            return wrapper

        @traced
        def step(x):
            return x + 1
    """
        },
    )
    module = import_from(tmp_path / "deco", "hashmod_deco")
    assert code.function_code_hash(module.step) == code.function_code_hash(module.step.__wrapped__)


# --- diffs ----------------------------------------------------------------------------------


def test_text_diff_is_a_unified_diff():
    a = "def step():\n    return 1\n"
    b = "def step():\n    return 2"
    diff = code.text_diff(a, b, "RUN_A/flow.py", "RUN_B/flow.py")
    assert diff.startswith("--- RUN_A/flow.py\n+++ RUN_B/flow.py\n")
    assert "-    return 1\n" in diff and "+    return 2\n" in diff
    assert "No newline at end of file" in diff
    assert code.text_diff(a, a, "x", "y") == ""

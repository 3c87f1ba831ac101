"""Per-step environments: resolve an :class:`lamina.Env` to an exact lock with uv, build
the environment once per lock, and run tasks in it (docs/environments.md).

* **Resolve**: ``uv pip compile --generate-hashes`` (or ``uv export --frozen`` of a
  project's ``uv.lock``) gives a lock: every package pinned with its hashes. The lock of
  a request is kept under the environments folder (``locks/``), so the next run with the
  same request calls no uv at all.
* **Build**: ``uv venv --relocatable`` + ``uv pip sync`` of the lock into a temporary
  folder, renamed into place (``<envs>/<key>``) when complete: a reader never sees half an
  environment. uv links the packages from its own cache, so a warm build is fast.
  ``<key>`` hashes the lock, the Python asked for and the environment lamina runs in.
* **lamina inside**: a ``.pth`` file in the new environment adds lamina's own
  environment *after* the new one's packages, so the task entry point, the stack's
  plugins and their dependencies import, while every package the lock names comes from
  the lock. An environment on another Python minor version gets lamina's own dependencies
  (pinned to the versions running here) in its lock, as compiled packages cannot be
  shared between Python versions.
* **Record**: each environment's lock is stored in the datastore and named in the run
  manifest (``envs``), so ``lamina resume`` and remote tasks rebuild the same environment
  from the recorded lock, resolving nothing.

Where the environments live: ``$LAMINA_ENVS_DIR``, else ``$XDG_CACHE_HOME/lamina/envs``
(``~/.cache/lamina/envs``). Which uv: ``$LAMINA_UV``, else the ``uv`` Python package's
binary, else ``uv`` on ``PATH``. uv reads its index settings from the environment
(``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, ``UV_INDEX``, ``UV_FIND_LINKS``, ``SSL_CERT_FILE``,
``uv.toml``) as it does for any project; pip's ``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL``
are passed on when uv's own are not set.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import EnvironmentBuildError
from lamina.logs import get_logger

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.env import Env
    from lamina.flow.flow import Flow
    from lamina.records import TaskOutcome, TaskSpec

log = get_logger("lamina.envs")

ENVS_DIR_ENV = "LAMINA_ENVS_DIR"
UV_ENV = "LAMINA_UV"
#: Set in a task process started inside an environment: the environment's key.
IN_ENV_ENV = "LAMINA_IN_ENV"
_PTH = "_lamina_base.pth"
_INDEX_SETTINGS = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL",
                   "UV_FIND_LINKS", "UV_INDEX_STRATEGY", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
_NETWORK = re.compile(
    r"(dns error|failed to fetch|could not connect|connection refused|tcp connect|"
    r"error sending request|timed out|network is unreachable|failed to download)", re.I)


@attrs.frozen
class StepEnv:
    """A built environment a step's tasks run in.

    :param key: the environment's folder name (hash of lock, Python and base).
    :param lock: the lock text (``requirements.txt`` with hashes).
    :param python: the Python version asked for ("" for lamina's own).
    :param path: the environment's folder.
    """

    key: str
    lock: str
    python: str
    path: str

    @property
    def executable(self) -> str:
        """The environment's Python interpreter."""
        if sys.platform == "win32":
            return os.path.join(self.path, "Scripts", "python.exe")
        return os.path.join(self.path, "bin", "python")


def envs_dir() -> Path:
    """Where environments are built: ``$LAMINA_ENVS_DIR``, else
    ``$XDG_CACHE_HOME/lamina/envs`` (``~/.cache/lamina/envs``)."""
    explicit = os.environ.get(ENVS_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lamina" / "envs"


def find_uv(step: str = "") -> str:
    """The uv binary: ``$LAMINA_UV``, the ``uv`` package's, or ``uv`` on PATH.

    :raises EnvironmentBuildError: there is none, with how to install it."""
    explicit = os.environ.get(UV_ENV)
    if explicit:
        return explicit
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        packaged = str(uv.find_uv_bin())
        if os.path.exists(packaged):
            return packaged
    except Exception:  # not installed, or its binary is missing
        pass
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    who = f"step '{step}' has an environment (env=), which " if step else "per-step environments "
    raise EnvironmentBuildError(
        f"{who}needs uv, and uv is not installed here",
        hint="pip install uv   (or pip install 'lamina[envs]'); or set LAMINA_UV to its path",
    )


def uv_environ() -> dict[str, str]:
    """The environment uv runs with: this one, plus pip's index settings when uv's own
    are not set."""
    env = dict(os.environ)
    if "PIP_INDEX_URL" in env and not (env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")):
        env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]
    if "PIP_EXTRA_INDEX_URL" in env and not (env.get("UV_INDEX") or env.get("UV_EXTRA_INDEX_URL")):
        env["UV_INDEX"] = env["PIP_EXTRA_INDEX_URL"]
    env.pop("VIRTUAL_ENV", None)  # uv must act on the environment it is given, not this one
    return env


def _uv(args: list[str], *, step: str, what: str, cwd: str | None = None,
        stdin: str | None = None, python: str | None = None) -> str:
    """Run uv; its stdout, or an :class:`EnvironmentBuildError` naming the step and what
    failed, with uv's own first error line."""
    uv = find_uv(step)
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [uv, *args], capture_output=True, text=True, env=uv_environ(), cwd=cwd,
            input=stdin, check=False,
        )
    except FileNotFoundError as err:
        raise EnvironmentBuildError(
            f"step '{step}': uv ({uv}) cannot be started: {err}",
            hint="pip install uv   (or set LAMINA_UV to the uv binary)",
        ) from err
    log.debug("uv", args=args[:3], seconds=round(time.perf_counter() - started, 3),
              returncode=proc.returncode)
    if proc.returncode == 0:
        return proc.stdout
    raise _uv_error(proc.stderr, step=step, what=what, python=python)


def _uv_error(stderr: str, *, step: str, what: str, python: str | None = None) -> EnvironmentBuildError:
    lines = [re.sub(r"^(╰─▶|error:|cause:)\s*", "", ln.strip(), flags=re.I)
             for ln in stderr.splitlines() if ln.strip()]
    cause = " ".join(lines)
    # the sentence that names the requirement ("Because there is no version of ...")
    said = next((ln for ln in lines if ln.lower().startswith("because")), "")
    if not said:
        said = "; ".join(lines[:2]) if lines else "no message"
    if python and ("python-build-standalone" in cause or "no interpreter found" in cause.lower()):
        return EnvironmentBuildError(
            f"step '{step}': Env(python={python!r}): no Python {python} on this machine, and "
            f"uv cannot download one: {said}",
            hint=f"install CPython {python} (python{python} on PATH), or let uv reach its "
            "Python downloads (UV_PYTHON_INSTALL_MIRROR)",
        )
    if _NETWORK.search(cause):
        return EnvironmentBuildError(
            f"step '{step}': cannot reach the package index to {what}: {said}",
            hint="check the network, or point uv at a reachable index (UV_DEFAULT_INDEX, "
            "UV_INDEX_URL, UV_FIND_LINKS); a run with a recorded lock needs the index only "
            "for packages not in uv's cache",
        )
    return EnvironmentBuildError(
        f"step '{step}': cannot {what}: {said}",
        hint="fix the requirement in the step's env= (a version that exists for this "
        "Python and platform)",
    )


# -- resolving ---------------------------------------------------------------------------------


def _base_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _same_python(python: str | None) -> bool:
    return python is None or ".".join(python.split(".")[:2]) == _base_python()


def _lamina_pins() -> list[str]:
    """lamina's own dependencies pinned to the versions running here: what an environment
    on another Python minor version needs to run the task entry point."""
    pins = []
    for req in importlib.metadata.requires("lamina") or []:
        if ";" in req:  # an extra's or a platform's: not needed to run a task
            continue
        name = re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0]
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(req)
    return pins


def _project_files(env: Env, base_dir: str, step: str) -> tuple[Path, Path | None]:
    """(pyproject.toml, uv.lock beside it or None) of ``env.project``."""
    assert env.project
    path = Path(env.project)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if path.is_dir():
        path = path / "pyproject.toml"
    elif path.name == "uv.lock":
        path = path.with_name("pyproject.toml")
    if not path.is_file():
        raise EnvironmentBuildError(
            f"step '{step}': Env(project={env.project!r}): {path} does not exist",
            hint="name a pyproject.toml (or its folder); a relative path is taken from "
            "the flow file's folder",
        )
    lock = path.with_name("uv.lock")
    return path, lock if lock.is_file() else None


def request_key(env: Env, base_dir: str, step: str) -> str:
    """The hash of everything a resolution depends on: the requirements, the Python, the
    project's files, the index settings and this platform."""
    parts: dict[str, Any] = {
        "pip": list(env.pip),
        "python": env.python or sys.version.split()[0],
        "platform": sys.platform,
        "index": {k: os.environ.get(k, "") for k in _INDEX_SETTINGS},
    }
    if not _same_python(env.python):
        parts["lamina"] = _lamina_pins()
    if env.project:
        pyproject, lock = _project_files(env, base_dir, step)
        parts["pyproject"] = hashlib.sha256(pyproject.read_bytes()).hexdigest()
        parts["uv.lock"] = hashlib.sha256(lock.read_bytes()).hexdigest() if lock else ""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def resolve(env: Env, *, step: str, base_dir: str) -> str:
    """The exact lock of ``env`` (pinned, with hashes): from the lock cache when this
    request was resolved before, else resolved now with uv.

    :raises EnvironmentBuildError: uv is missing, the index unreachable or a requirement
        unresolvable; the message names the step and the requirement."""
    key = request_key(env, base_dir, step)
    cached = envs_dir() / "locks" / f"{key}.txt"
    if cached.is_file():
        return cached.read_text()
    python = env.python or _base_python()
    if env.project and _project_files(env, base_dir, step)[1] is not None:
        if env.pip:
            raise EnvironmentBuildError(
                f"step '{step}': {env.describe()}: the project's uv.lock is used as it is, "
                "so pip= cannot add to it",
                hint="add the requirements to the project (uv add ...) and lock it again",
            )
        pyproject, _ = _project_files(env, base_dir, step)
        lock = _uv(["export", "--frozen", "--no-dev", "--no-emit-project", "--no-header",
                    "--no-annotate", "--format", "requirements-txt", "--quiet",
                    "--project", str(pyproject.parent)],
                   step=step, what=f"export the lock of {env.describe()}")
    else:
        with tempfile.TemporaryDirectory(prefix="lamina-env-") as tmp:
            sources = []
            reqs = list(env.pip) + ([] if _same_python(env.python) else _lamina_pins())
            if reqs:
                req_file = Path(tmp) / "requirements.in"
                req_file.write_text("\n".join(reqs) + "\n")
                sources.append(str(req_file))
            if env.project:
                sources.append(str(_project_files(env, base_dir, step)[0]))
            lock = _uv(["pip", "compile", *sources, "--generate-hashes", "--no-header",
                        "--no-annotate", "--quiet", "--python-version", python],
                       step=step, what=f"resolve {env.describe()}")
    _write_atomic(cached, lock)
    return lock


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# -- building ----------------------------------------------------------------------------------


def _base_site_dirs() -> list[str]:
    """The site-packages folders of the environment lamina runs in."""
    import site
    import sysconfig

    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    with contextlib.suppress(AttributeError):
        dirs += site.getsitepackages()
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def env_key(lock: str, python: str | None) -> str:
    """The folder name of the environment of ``lock``: it also depends on the Python
    asked for and on the environment lamina runs in (which the ``.pth`` points at)."""
    base = os.path.realpath(sys.prefix)
    text = f"{lock}\n{python or sys.version.split()[0]}\n{base}\n{sys.platform}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """One builder of an environment at a time on this machine (other processes wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # no flock: a rename that loses the race is tolerated
        yield
        return
    import fcntl

    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_env(lock: str, python: str | None, *, step: str) -> StepEnv:
    """The built environment of ``lock`` (on ``python``, default lamina's): reused when
    it exists, else built now (``uv venv`` + ``uv pip sync``) and renamed into place.

    :raises EnvironmentBuildError: uv fails; the message names the step."""
    key = env_key(lock, python)
    root = envs_dir()
    final = root / key
    done = StepEnv(key=key, lock=lock, python=python or "", path=str(final))
    if (final / ".lamina-env").is_file():
        return done
    with _build_lock(root / f".{key}.lock"):
        if (final / ".lamina-env").is_file():  # another process built it meanwhile
            return done
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            interpreter = python or sys.executable
            _uv(["venv", "--quiet", "--relocatable", "--python", interpreter, str(tmp)],
                step=step, what=f"create a Python {python or _base_python()} environment",
                python=python)
            building = StepEnv(key=key, lock=lock, python=python or "", path=str(tmp))
            lock_file = tmp / "lamina.lock.txt"
            lock_file.write_text(lock)
            _uv(["pip", "sync", "--quiet", "--python", building.executable, str(lock_file)],
                step=step, what="install the environment's lock")
            _link_base(tmp)
            (tmp / ".lamina-env").write_text(json.dumps({"python": python or "", "base": sys.prefix}))
            if final.exists():  # a half-built leftover (no marker): replace it
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:
                if not (final / ".lamina-env").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another process built it first
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("environment built", step=step, env=key,
                 seconds=round(time.perf_counter() - started, 2))
    return done


def _link_base(env_dir: Path) -> None:
    """Make lamina's own environment importable after the new one's packages."""
    sites = sorted(env_dir.glob("lib/python*/site-packages")) or sorted(env_dir.glob("Lib/site-packages"))
    if not sites:
        raise EnvironmentBuildError(f"the new environment {env_dir} has no site-packages folder")
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in _base_site_dirs())
    (sites[0] / _PTH).write_text(lines)


# -- a run's environments ----------------------------------------------------------------------


def prepare_envs(
    flow: Flow, steps: Any, *, base_dir: str, recorded: Mapping[str, Any] | None = None,
    recorded_locks: Mapping[str, str] | None = None,
) -> dict[str, StepEnv]:
    """Build the environment of every step of ``steps`` that has one, before any task
    runs. A step whose request is the one ``recorded`` (an earlier run's manifest
    ``envs``, with its locks in ``recorded_locks``) reuses that lock: nothing is resolved.

    :raises EnvironmentBuildError: one line naming the step and the requirement."""
    envs: dict[str, StepEnv] = {}
    for name in steps:
        env = flow.step_env(name)
        if env is None:
            continue
        lock = ""
        before = (recorded or {}).get(name)
        if before and before.get("request") == _request_repr(env):
            lock = (recorded_locks or {}).get(name, "")
        if not lock:
            lock = resolve(env, step=name, base_dir=base_dir)
        envs[name] = ensure_env(lock, env.python, step=name)
    return envs


def _request_repr(env: Env) -> dict[str, Any]:
    return {"pip": list(env.pip), "python": env.python or "", "project": env.project or ""}


def manifest_envs(flow: Flow, envs: Mapping[str, StepEnv], artifacts: ArtifactStore) -> dict[str, Any]:
    """What the run manifest records of each step's environment: the request, the Python
    and the object key of the lock (stored in the datastore)."""
    out: dict[str, Any] = {}
    for name, built in envs.items():
        env = flow.step_env(name)
        assert env is not None
        out[name] = {
            "request": _request_repr(env),
            "python": built.python,
            "lock": artifacts.put_bytes(built.lock.encode()),
            "key": built.key,
        }
    return out


def recorded_locks(artifacts: ArtifactStore, manifest: Mapping[str, Any]) -> dict[str, str]:
    """The lock of each step's environment a run's manifest records, read from the datastore."""
    return {
        step: artifacts.get_bytes(entry["lock"], name=f"environment lock of step {step}").decode()
        for step, entry in (manifest.get("envs") or {}).items()
    }


def in_env(entry: Mapping[str, Any]) -> bool:
    """Whether this process runs in the environment ``entry`` (a manifest ``envs`` entry)."""
    return os.environ.get(IN_ENV_ENV, "") == entry.get("key") and bool(entry.get("key"))


def task_environ(built: StepEnv) -> dict[str, str]:
    """The environment variables of a process that runs tasks in ``built``: this one's,
    marked with the environment's key. Compiled modules are kept: when
    ``PYTHONDONTWRITEBYTECODE`` is set (nothing written beside the sources), they go
    under the environment's own folder instead (``PYTHONPYCACHEPREFIX``), so that each
    worker does not compile every package of the environment again at each start."""
    env = {**os.environ, IN_ENV_ENV: built.key}
    if env.get("PYTHONDONTWRITEBYTECODE") and not env.get("PYTHONPYCACHEPREFIX"):
        del env["PYTHONDONTWRITEBYTECODE"]
        env["PYTHONPYCACHEPREFIX"] = os.path.join(built.path, "pycache")
    return env


def run_task_in_env(spec: TaskSpec, artifacts: ArtifactStore, manifest: Mapping[str, Any]) -> TaskOutcome | None:
    """Run a task in its step's recorded environment, as ``python -m lamina task`` started
    with the environment's Python (built from the recorded lock if this machine does not
    have it yet); return its recorded outcome. None when the step has no environment or
    this process already runs in it: the caller runs the task itself.

    What remote computes call at task start (the Dask worker, ``lamina task``)."""
    from lamina.compute.remote_common import settle, task_command

    entry = (manifest.get("envs") or {}).get(spec.step)
    if not entry or in_env(entry):
        return None
    lock = artifacts.get_bytes(entry["lock"], name=f"environment lock of step {spec.step}").decode()
    built = ensure_env(lock, entry.get("python") or None, step=spec.step)
    started = time.time()
    proc = subprocess.run(task_command(spec, python=built.executable), env=task_environ(built),
                          capture_output=True, text=True, check=False)
    return settle(
        artifacts, spec, engine_ok=proc.returncode == 0, reason="exit",
        message=f"the task in environment {built.key} exited with code {proc.returncode}",
        started_at=started, log_text=proc.stderr[-20000:],
    )

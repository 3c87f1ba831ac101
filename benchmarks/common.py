"""Shared by the benchmark scripts: the Metaflow peer environment, timing a command with
the peak memory of its whole process tree, A/B alternation and Markdown tables.

Not a benchmark itself (no ``main``): ``run_all.py`` skips it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METAFLOW_REQUIREMENTS = ["metaflow==2.19.39", "numpy"]


def metaflow_python() -> str:
    """The interpreter of Metaflow's own virtual environment (built once, cached under
    ``.cache/test-envs/``): the peer never shares lamina's environment."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from envs_util import ensure_env
    finally:
        sys.path.pop(0)
    return str(ensure_env("metaflow", METAFLOW_REQUIREMENTS))


def metaflow_built() -> bool:
    """Whether the peer environment exists already (``--quick`` may skip building it)."""
    root = Path(os.environ.get("LAMINA_TEST_ENVS") or REPO / ".cache" / "test-envs")
    return any(p.joinpath(".ready").exists() for p in root.glob("metaflow-*"))


def metaflow_env(home: Path) -> dict[str, str]:
    """Metaflow with its local datastore and metadata under ``home``; no network, no
    config from the user's home folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "LAMINA_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both sides keep their compiled modules
    env.update(
        METAFLOW_USER="bench",
        USER=os.environ.get("USER", "bench"),
        METAFLOW_HOME=str(home / ".metaflowconfig"),
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(home),
        METAFLOW_DISABLE_TRACING="1",
    )
    return env


def lamina_env() -> dict[str, str]:
    """lamina with its builtin (embedded) stack only: the benchmark measures the core, not
    whichever plugins happen to be installed next to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMINA_", "METAFLOW_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are reused
    env["LAMINA_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def versions(mf_python: str | None) -> str:
    import lamina

    line = f"lamina {lamina.__version__}"
    if mf_python:
        out = subprocess.run(
            [mf_python, "-c", "import metaflow, sys; print(metaflow.__version__)"],
            capture_output=True, text=True, env=metaflow_env(Path(os.devnull).parent),
        )
        line += f", Metaflow {out.stdout.strip() or '?'}"
    return line


class TreeMemory:
    """Samples the resident memory of a process and of all its descendants (psutil)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_root = 0
        self.peak_tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                own = root.memory_info().rss
                total = own
                for child in root.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            self.peak_root = max(self.peak_root, own)
            self.peak_tree = max(self.peak_tree, total)
            self._stop.wait(self.interval)


def run_timed(
    cmd: Sequence[str], *, cwd: Path, env: dict[str, str], memory: bool = False,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run ``cmd`` to the end: wall seconds, CPU seconds (user + system, the command and
    the processes it waited for), peak RSS (MB) of the process and of its tree, stdout.
    Raises with the output if it fails."""
    import resource

    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = TreeMemory(proc.pid) if memory else None
    if sampler:
        sampler.__enter__()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if sampler:
            sampler.__exit__()
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}\n{err}")
    # CPU of the command and of every process it waited for (its workers): the steadier
    # number when the machine is shared and the wall clock mostly measures waiting
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result: dict[str, Any] = {"wall": wall, "cpu": cpu, "stdout": out, "stderr": err}
    if sampler:
        result["rss_root_mb"] = sampler.peak_root / 2**20
        result["rss_tree_mb"] = sampler.peak_tree / 2**20
    return result


def alternate(
    sides: dict[str, Callable[[], float]], runs: dict[str, int]
) -> dict[str, list[float]]:
    """Call each side in turn (A, B, A, B...) until each made its number of runs, so that a
    load change on a shared machine hits both sides alike."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    while any(len(times[n]) < runs[n] for n in sides):
        for name, fn in sides.items():
            if len(times[name]) < runs[name]:
                times[name].append(fn())
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def lamina_toml(workers: int = 2) -> str:
    return f'[stacks.local]\ncompute = {{ plugin = "local", workers = {workers} }}\n'

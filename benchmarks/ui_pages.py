"""``lamina ui`` at scale, lamina alone: the first page of 10,000 runs, the page of a
20,000-task run (a real 200 x 100 product foreach), and the server's resident memory.

Server time is the app's own ``Server-Timing`` header (request in to response start),
measured through the real ``lamina ui`` process over loopback: the first request (cold:
nothing cached) and the median of the next ones. Memory is the UI process's RSS after it
started (idle) and after serving those pages. Run from the repository root::

    python benchmarks/ui_pages.py              # 10,000 runs, 20,000 tasks, and mlflow ui
    python benchmarks/ui_pages.py --no-mlflow  # lamina alone
    python benchmarks/ui_pages.py --quick      # 200 runs, 100 tasks, no peer, no doc update

Side by side, ``mlflow ui`` (in its own virtual environment, built once and cached like
the other peers) lists the same number of runs from its SQLite store: the request its
runs table makes for the first page (``runs/search``, 100 runs, newest first). Its 10,000
runs are written in one transaction with MLflow's own store models (its client takes about
0.1 s a run here).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, lamina_env, lamina_toml, median, run_timed, table, versions
from report import machine_line, write_section
from runtime_scale import FLOW

MAKE_RUNS = r'''
import sys, time
from lamina import Stack
from lamina.records import RunRecord
count = int(sys.argv[1])
meta = Stack.load(None).metadata
now = time.time() - count
for i in range(count):
    run_id = f"20260101T000000{i:06d}-bench"
    meta.create_run(RunRecord(run_id=run_id, flow="many", status="running",
                              started_at=now + i, params={"i": i, "alpha": i / count},
                              user="bench", steps=("a", "b"), tags=("bench",)))
    meta.finish_run(run_id, status="succeeded", finished_at=now + i + 0.5, error="")
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_ms(url: str) -> tuple[float, float]:
    """(server time in ms from the Server-Timing header, wall time in ms)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        timing = response.headers.get("server-timing", "app;dur=nan")
    wall = (time.perf_counter() - start) * 1000
    return float(timing.split("dur=")[1]), wall


def _rss_mb(pid: int, *, tree: bool = False) -> float:
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)] if tree else [root]
    return sum(p.memory_info().rss for p in procs) / 2**20


MLFLOW_REQUIREMENTS = ["mlflow>=3,<3.18"]

MLFLOW_MAKE_RUNS = r'''
import sys, time, uuid
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.store.tracking.dbmodels.models import SqlParam, SqlRun, SqlTag
uri, n, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
store = SqlAlchemyStore(uri, root)
exp = store.create_experiment("many")
now = int(time.time() * 1000) - n * 1000
with store.ManagedSessionMaker() as session:
    for i in range(n):
        rid = uuid.uuid4().hex
        session.add(SqlRun(run_uuid=rid, name=f"run-{i}", source_type="LOCAL",
                           source_name="bench", entry_point_name="", user_id="bench",
                           status="FINISHED", start_time=now + i * 1000,
                           end_time=now + i * 1000 + 500, source_version="",
                           lifecycle_stage="active", artifact_uri=f"{root}/{exp}/{rid}",
                           experiment_id=int(exp)))
        session.add_all([SqlParam(key="i", value=str(i), run_uuid=rid),
                         SqlParam(key="alpha", value=str(i / n), run_uuid=rid),
                         SqlTag(key="bench", value="1", run_uuid=rid)])
print(exp)
'''


def _wait_http(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10):
                return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


def _post_ms(url: str, body: dict) -> tuple[float, int]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = json.loads(response.read())
    return (time.perf_counter() - start) * 1000, len(payload.get("runs", []))


def mlflow_side(n_runs: int, repeat: int) -> dict[str, Any]:
    """``mlflow ui`` over ``n_runs`` runs: its runs/search (first page) and its memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        from envs_util import ensure_env
    finally:
        sys.path.pop(0)
    py = str(ensure_env("mlflow", MLFLOW_REQUIREMENTS))
    mlflow_bin = str(Path(py).parent / "mlflow")
    with tempfile.TemporaryDirectory(prefix="mlflow-ui-bench-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        out = subprocess.run([py, "-c", MLFLOW_MAKE_RUNS, uri, str(n_runs), f"{tmp}/art"],
                             capture_output=True, text=True, check=True)
        exp = out.stdout.strip().splitlines()[-1]
        port = _free_port()
        proc = subprocess.Popen([mlflow_bin, "ui", "--backend-store-uri", uri, "--host",
                                 "127.0.0.1", "--port", str(port)], cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(base + "/health", proc)
            time.sleep(1.0)
            idle = _rss_mb(proc.pid, tree=True)
            search = base + "/ajax-api/2.0/mlflow/runs/search"
            body = {"experiment_ids": [exp], "max_results": 100,
                    "order_by": ["attributes.start_time DESC"]}
            cold, count = _post_ms(search, body)
            warm = [_post_ms(search, body)[0] for _ in range(repeat)]
            served = _rss_mb(proc.pid, tree=True)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert count == 100, count
    version = subprocess.run([py, "-c", "import mlflow; print(mlflow.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    return {"cold": cold, "warm": median(warm), "idle": idle, "served": served,
            "version": version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no doc update")
    parser.add_argument("--repeat", type=int, default=7, help="warm requests per page")
    parser.add_argument("--no-mlflow", action="store_true", help="lamina alone")
    args = parser.parse_args(argv)
    n_runs, shape = (200, (10, 10)) if args.quick else (10_000, (200, 100))
    env = lamina_env()
    with tempfile.TemporaryDirectory(prefix="lamina-ui-bench-") as tmp:
        project = Path(tmp)
        (project / "lamina.toml").write_text(lamina_toml())
        (project / "grid.py").write_text(FLOW)
        subprocess.run([sys.executable, "-c", MAKE_RUNS, str(n_runs)], cwd=project, env=env,
                       check=True)
        run_timed([sys.executable, "-m", "lamina", "run", "grid.py", "--set",
                   f"c={shape[0]}", "--set", f"g={shape[1]}"], cwd=project, env=env)
        out = subprocess.run([sys.executable, "-m", "lamina", "runs", "grid", "--json"],
                             cwd=project, env=env, capture_output=True, text=True, check=True)
        big = json.loads(out.stdout)[0]["run_id"]
        tasks = shape[0] * shape[1] + 3
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "lamina", "ui", "--port", str(port)],
                                cwd=project, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    _server_ms(base + "/healthz")
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise RuntimeError("lamina ui did not start") from None
                    time.sleep(0.1)
            time.sleep(1.0)
            idle = _rss_mb(proc.pid)
            pages = [
                (f"runs list, first page (50 of {n_runs + 1:,} runs)", "/"),
                ("runs list of one flow, filtered by tag", "/?flow=many&tag=bench"),
                (f"run page of a {tasks:,}-task run", f"/runs/{big}"),
                (f"step page of its {shape[0] * shape[1]:,}-task foreach (100 rows)",
                 f"/runs/{big}/steps/model"),
                ("task page (one task of it)", f"/runs/{big}/steps/model/{shape[0] * shape[1] // 2}"),
            ]
            rows = []
            for label, path in pages:
                cold, _ = _server_ms(base + path)
                warm = [_server_ms(base + path) for _ in range(args.repeat)]
                rows.append([label, f"{cold:.0f} ms", f"{median([w[0] for w in warm]):.0f} ms",
                             f"{median([w[1] for w in warm]):.0f} ms"])
            first_page = [_server_ms(base + "/")[1] for _ in range(args.repeat)]
            served = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    peer = None if args.quick or args.no_mlflow else mlflow_side(n_runs, args.repeat)
    peer_lines = []
    if peer is not None:
        peer_lines = [
            "",
            f"Side by side with `mlflow ui` ({n_runs:,} runs in its SQLite store, wall time "
            "over loopback, median). The MLflow side is the request its runs table makes "
            "(the page then renders in the browser); its process tree includes the job-queue "
            "workers `mlflow ui` starts.",
            "",
            table(["", "lamina ui", "mlflow ui", "mlflow / lamina"], [
                ["first page of the runs list", f"{median(first_page):.0f} ms (50 runs, HTML)",
                 f"{peer['warm']:.0f} ms (100 runs, JSON; first {peer['cold']:.0f} ms)",
                 f"{peer['warm'] / median(first_page):.1f}x"],
                ["RSS idle (process tree)", f"{idle:.0f} MB", f"{peer['idle']:.0f} MB",
                 f"{peer['idle'] / idle:.1f}x"],
                ["RSS after serving", f"{served:.0f} MB", f"{peer['served']:.0f} MB", ""],
            ]),
        ]
    text = "\n".join([
        "## Web UI (`lamina ui`)",
        "",
        "Server time is the app's `Server-Timing` (request in to response start) of the real "
        "`lamina ui` process on the embedded stack (SQLite metadata, file datastore), over "
        "loopback: the first request (cold: no run's tasks cached) and the median of "
        f"{args.repeat} more (warm: a finished run's task records are kept for the last 8 "
        "runs viewed). The 10,000 runs are recorded through the metadata store's public "
        "methods; the big run is a real 200 x 100 product foreach.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; {versions(None)}"
        + (f", MLflow {peer['version']}" if peer else "") + ".",
        "",
        table(["page", "server, cold", "server, warm (median)", "wall, warm (median)"], rows),
        "",
        f"UI process RSS: {idle:.0f} MB idle after start, {served:.0f} MB after serving "
        "the pages above.",
        *peer_lines,
        "",
        "Targets: first page of 10,000 runs < 0.5 s; run page of a 20,000-task run < 1 s; "
        "RSS < 150 MB idle.",
    ])
    print(text)
    if not args.quick:
        write_section("ui", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

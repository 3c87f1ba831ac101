"""``lamina ui`` at scale, lamina alone: the first page of 10,000 runs, the page of a
20,000-task run (a real 200 x 100 product foreach), and the server's resident memory.

Server time is the app's own ``Server-Timing`` header (request in to response start),
measured through the real ``lamina ui`` process over loopback: the first request (cold:
nothing cached) and the median of the next ones. Memory is the UI process's RSS after it
started (idle) and after serving those pages. Run from the repository root::

    python benchmarks/ui_pages.py            # 10,000 runs, 20,000 tasks
    python benchmarks/ui_pages.py --quick    # 200 runs, 100 tasks, no doc update
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


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no doc update")
    parser.add_argument("--repeat", type=int, default=7, help="warm requests per page")
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
            served = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
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
        f"Produced by `{command_line()}` on {machine_line()}; {versions(None)}.",
        "",
        table(["page", "server, cold", "server, warm (median)", "wall, warm (median)"], rows),
        "",
        f"UI process RSS: {idle:.0f} MB idle after start, {served:.0f} MB after serving "
        "the pages above.",
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

"""Throughput and latency: lamina's local V2 server vs MLServer, same model, client, payloads.

Both serve the same scikit-learn estimator (trained by a lamina flow): lamina with
``lamina serve`` (prediction log on), MLServer 1.7.1 with its own scikit-learn runtime
(``mlserver_sklearn.SKLearnModel`` on a joblib file of the estimator; ``parallel_workers``
0, i.e. one process like lamina), in an environment of its own. The client is the same for
both: P processes, each one keep-alive HTTP/1.1 connection sending the same V2 JSON body
back to back. Rounds alternate lamina / MLServer; every round is printed and shown.

A second table serves a model whose predict costs 1 ms per call whatever the batch size
(a blocking sleep: a remote call, a GPU launch), with more clients: lamina without and
with adaptive batching (``--max-batch-size``), MLServer with its adaptive batching
(``max_batch_size`` / ``max_batch_time`` in model-settings.json, the runtime in
``serving_percall_runtime.py``).

    python benchmarks/serving_throughput.py            # the real size, writes docs/benchmarks.md
    python benchmarks/serving_throughput.py --quick    # a smoke run, prints only
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests"), str(REPO / "tests" / "seldon")]

FLOW = '''
from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("bench")


@flow.step
def model():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    return Model(clf, schema=Schema.infer(X, clf.predict(X[:5])))
'''

#: The 1 ms-per-call model (the same as serving_percall_runtime.PerCallModel for MLServer).
PERCALL_FLOW = '''
from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("percall")


def predict(X):
    import time

    time.sleep(0.001)
    return X.sum(axis=1)


@flow.step
def model():
    import numpy as np

    X = np.random.default_rng(0).normal(size=(8, 30))
    return Model(predict=predict, schema=Schema.infer(X, X.sum(axis=1)))
'''


def _client(port: int, path: str, body: bytes, seconds: float, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for _ in range(20):  # warm the connection and the server
        conn.request("POST", path, body, headers)
        conn.getresponse().read()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status != 200:
            errors += 1
    out.put((latencies, errors, 20))


def load(port: int, path: str, body: bytes, *, clients: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(port, path, body, seconds, queue))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    if errors:
        raise RuntimeError(f"{errors} requests failed on port {port}")
    return {
        "rps": len(lat) / seconds,
        "p50": lat[len(lat) // 2] * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "requests": len(lat) + sum(r[2] for r in results),
    }


def batch_counts(port: int) -> tuple[float, float]:
    """(requests, predict calls) counted so far by a lamina server's batch-size metric."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = calls = 0.0
    for line in text.splitlines():
        if line.startswith("lamina_batch_size_sum{"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("lamina_batch_size_count{"):
            calls += float(line.rsplit(" ", 1)[1])
    return total, calls


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def _round_line(i: int, name: str, r: dict[str, float]) -> str:
    return (f"round {i}: {name:<16} {r['rps']:8.0f} req/s  p50 {r['p50']:6.2f} ms  "
            f"p99 {r['p99']:6.2f} ms" + (f"  mean batch {r['batch']:.1f}" if "batch" in r else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny size; print, do not write docs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch-clients", type=int, default=16,
                        help="client processes of the 1 ms model's table")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-batch-wait-ms", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.clients, args.batch_clients = 1, 2.0, 2, 4

    import joblib
    import sklearn
    from envs_util import free_port, stop_process
    from report import machine_line, write_section
    from seldon_util import MLSERVER_VERSION, mlserver_python

    import lamina
    from lamina.serving import read_prediction_log, resolve_model
    from lamina.stack import Stack

    machine = machine_line()  # the load average before the servers start
    mlserver_py = mlserver_python()
    work = Path(tempfile.mkdtemp(prefix="lamina-serving-bench-"))
    servers: list[subprocess.Popen] = []
    try:
        (work / "flow.py").write_text(FLOW)
        (work / "percall.py").write_text(PERCALL_FLOW)
        env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
        for flow_file in ("flow.py", "percall.py"):
            subprocess.run([sys.executable, "-m", "lamina", "run", flow_file], cwd=work,
                           env=env, check=True, capture_output=True)
        stack = Stack.load(cwd=work, env={})
        loaded = resolve_model(stack, "bench")
        width = len(loaded.model.schema.inputs)

        repo = work / "mlserver"
        (repo / "bench").mkdir(parents=True)
        joblib.dump(loaded.model.obj, repo / "bench" / "model.joblib")
        (repo / "bench" / "model-settings.json").write_text(json.dumps({
            "name": "bench", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"}}))
        (repo / "percall").mkdir()
        shutil.copy(REPO / "benchmarks" / "serving_percall_runtime.py", repo / "percall")
        (repo / "percall" / "model-settings.json").write_text(json.dumps({
            "name": "percall", "implementation": "serving_percall_runtime.PerCallModel",
            "max_batch_size": args.max_batch_size,
            "max_batch_time": args.max_batch_wait_ms / 1000.0}))
        ml_port, lam_port, off_port, on_port = free_port(), free_port(), free_port(), free_port()
        (repo / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": ml_port, "grpc_port": free_port(),
            "metrics_port": free_port(), "parallel_workers": 0}))
        ml = subprocess.Popen([str(mlserver_py.parent / "mlserver"), "start", str(repo)],
                              cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        servers.append(ml)

        def lamina_server(ref: str, name: str, port: int, *extra: str) -> subprocess.Popen:
            proc = subprocess.Popen([sys.executable, "-m", "lamina", "serve", ref, "--name",
                                     name, "--port", str(port), *extra], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            servers.append(proc)
            return proc

        lam = lamina_server(loaded.ref, "bench", lam_port)
        off = lamina_server("percall/latest/model", "percall", off_port)
        on = lamina_server("percall/latest/model", "percall-batched", on_port,
                           "--max-batch-size", str(args.max_batch_size),
                           "--max-batch-wait-ms", f"{args.max_batch_wait_ms:g}")
        _wait_ready(f"http://127.0.0.1:{lam_port}/v2/models/bench/ready", lam)
        _wait_ready(f"http://127.0.0.1:{off_port}/v2/models/percall/ready", off)
        _wait_ready(f"http://127.0.0.1:{on_port}/v2/models/percall-batched/ready", on)
        _wait_ready(f"http://127.0.0.1:{ml_port}/v2/models/bench/ready", ml)
        _wait_ready(f"http://127.0.0.1:{ml_port}/v2/models/percall/ready", ml)

        import numpy as np
        from sklearn.datasets import load_breast_cancer

        row = load_breast_cancer(return_X_y=True)[0][0]
        body = json.dumps({"inputs": [{"name": "input-0", "datatype": "FP64",
                                       "shape": [1, width], "data": np.round(row, 6).tolist()}]}
                          ).encode()
        results: dict[str, list[dict[str, float]]] = {
            "lamina": [], "mlserver": [], "lamina, batching off": [],
            "lamina, batching on": [], "mlserver, batching on": []}
        for i in range(1, args.rounds + 1):
            for name, port in (("lamina", lam_port), ("mlserver", ml_port)):
                r = load(port, "/v2/models/bench/infer", body, clients=args.clients,
                         seconds=args.seconds)
                results[name].append(r)
                print(_round_line(i, name, r), file=sys.stderr, flush=True)
            for name, port, path in (
                    ("lamina, batching off", off_port, "/v2/models/percall/infer"),
                    ("lamina, batching on", on_port, "/v2/models/percall-batched/infer"),
                    ("mlserver, batching on", ml_port, "/v2/models/percall/infer")):
                before = batch_counts(port) if name == "lamina, batching on" else None
                r = load(port, path, body, clients=args.batch_clients, seconds=args.seconds)
                if before is not None:
                    after = batch_counts(port)
                    r["batch"] = (after[0] - before[0]) / max(after[1] - before[1], 1)
                results[name].append(r)
                print(_round_line(i, name, r), file=sys.stderr, flush=True)
        stop_process(lam, timeout=60)  # SIGTERM: the last prediction-log batch is written
        logged = read_prediction_log(stack, "bench").num_rows
        sent = sum(r["requests"] for r in results["lamina"])

        def med(name: str, key: str) -> float:
            return statistics.median(r[key] for r in results[name])

        summary: dict[str, Any] = {name: {k: med(name, k) for k in ("rps", "p50", "p99")}
                                   for name in results}
        summary["ratio"] = summary["lamina"]["rps"] / summary["mlserver"]["rps"]
        summary["ratios"] = [a["rps"] / b["rps"] for a, b in
                             zip(results["lamina"], results["mlserver"], strict=True)]
        summary["batch_ratio"] = (summary["lamina, batching on"]["rps"]
                                  / summary["mlserver, batching on"]["rps"])
        summary["logged"] = logged
        summary["sent"] = sent
        if args.json:
            print(json.dumps(summary))
        cmd = "python benchmarks/serving_throughput.py" + (
            " --quick" if args.quick else
            f" --rounds {args.rounds} --seconds {args.seconds:g} --clients {args.clients}"
            f" --batch-clients {args.batch_clients}")

        def cells(r: dict[str, float]) -> str:
            return f"{r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f}"

        rounds = [f"| {i} | {cells(a)} | {cells(b)} | {a['rps'] / b['rps']:.2f}x |"
                  for i, (a, b) in enumerate(zip(results["lamina"], results["mlserver"],
                                                 strict=True), 1)]
        batch_names = ("lamina, batching off", "lamina, batching on", "mlserver, batching on")
        batch_rounds = [
            "| " + str(i) + " | " + " | ".join(
                f"{results[n][i - 1]['rps']:.0f} / {results[n][i - 1]['p99']:.1f}"
                for n in batch_names)
            + f" | {results['lamina, batching on'][i - 1]['batch']:.1f} |"
            for i in range(1, args.rounds + 1)]
        table = "\n".join([
            "## Serving: lamina local server vs MLServer",
            "",
            f"`{cmd}` ({args.rounds} alternating rounds of {args.seconds:g} s per server; "
            f"one-row V2 JSON requests from client processes with one keep-alive connection "
            f"each). {machine}, {os.getloadavg()[0]:.1f} at the end.",
            "",
            f"Model: scikit-learn {sklearn.__version__} StandardScaler + LogisticRegression, "
            f"{width} features, {args.clients} clients. lamina {lamina.__version__} (`lamina "
            "serve`, uvicorn + httptools + uvloop, prediction log on, strict V2 validation and "
            "the default limits: 16 MiB body, 5 s idle and 10 s header timeouts) vs MLServer "
            f"{MLSERVER_VERSION} (mlserver-sklearn runtime, `parallel_workers: 0`).",
            "",
            "| round | lamina req/s | p50 ms | p99 ms | MLServer req/s | p50 ms | p99 ms | "
            "ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rounds,
            f"| median | {cells(summary['lamina'])} | {cells(summary['mlserver'])} | "
            f"{summary['ratio']:.2f}x |",
            "",
            f"Throughput ratio lamina / MLServer (medians): **{summary['ratio']:.2f}x**; per "
            f"round {min(summary['ratios']):.2f}x to {max(summary['ratios']):.2f}x. The "
            f"prediction log holds {logged} rows for the {sent} requests lamina answered.",
            "",
            f"A model whose predict costs 1 ms per call whatever the batch size (a blocking "
            f"sleep), {args.batch_clients} clients, the same body. lamina without batching, "
            f"lamina with `--max-batch-size {args.max_batch_size} --max-batch-wait-ms "
            f"{args.max_batch_wait_ms:g}`, MLServer with `max_batch_size: "
            f"{args.max_batch_size}`, `max_batch_time: {args.max_batch_wait_ms / 1000:g}` "
            "(runtime: benchmarks/serving_percall_runtime.py). Cells: requests/s / p99 ms; "
            "mean batch: requests per predict call of lamina with batching.",
            "",
            "| round | lamina, batching off | lamina, batching on | MLServer, batching on | "
            "mean batch |",
            "|---|---:|---:|---:|---:|",
            *batch_rounds,
            "| median | " + " | ".join(
                f"{summary[n]['rps']:.0f} / {summary[n]['p99']:.1f}" for n in batch_names)
            + " | |",
            "",
            f"With batching lamina answers the 1 ms model "
            f"**{summary['batch_ratio']:.2f}x** MLServer's requests/s (medians), and "
            f"{summary['lamina, batching on']['rps'] / summary['lamina, batching off']['rps']:.1f}x "
            "its own without batching.",
        ])
        print(table)
        if not args.quick:
            write_section("serving_throughput", table)
        return 0 if logged == sent else 1
    finally:
        for proc in servers:
            stop_process(proc, timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

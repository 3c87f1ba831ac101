"""Throughput and latency: lamina's local V2 server vs MLServer, same model, client, payloads.

Both serve the same scikit-learn estimator (trained by a lamina flow): lamina with
``lamina serve`` (prediction log on), MLServer 1.7.1 with its own scikit-learn runtime
(``mlserver_sklearn.SKLearnModel`` on a joblib file of the estimator; ``parallel_workers``
0, i.e. one process like lamina), in an environment of its own. The client is the same for
both: P processes, each one keep-alive HTTP/1.1 connection sending the same V2 JSON body
back to back. Rounds alternate lamina / MLServer; the table shows medians over rounds.

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny size; print, do not write docs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.clients = 1, 2.0, 2

    import joblib
    import sklearn
    from envs_util import free_port, stop_process
    from report import machine_line, write_section
    from seldon_util import MLSERVER_VERSION, mlserver_python

    import lamina
    from lamina.serving import read_prediction_log, resolve_model
    from lamina.stack import Stack

    mlserver_py = mlserver_python()
    work = Path(tempfile.mkdtemp(prefix="lamina-serving-bench-"))
    servers: list[subprocess.Popen] = []
    try:
        (work / "flow.py").write_text(FLOW)
        env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
        subprocess.run([sys.executable, "-m", "lamina", "run", "flow.py"], cwd=work, env=env,
                       check=True, capture_output=True)
        stack = Stack.load(cwd=work, env={})
        loaded = resolve_model(stack, "bench")
        width = len(loaded.model.schema.inputs)

        repo = work / "mlserver"
        (repo / "bench").mkdir(parents=True)
        joblib.dump(loaded.model.obj, repo / "bench" / "model.joblib")
        (repo / "bench" / "model-settings.json").write_text(json.dumps({
            "name": "bench", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"}}))
        ml_port, lam_port = free_port(), free_port()
        (repo / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": ml_port, "grpc_port": free_port(),
            "metrics_port": free_port(), "parallel_workers": 0}))
        ml = subprocess.Popen([str(mlserver_py.parent / "mlserver"), "start", str(repo)],
                              cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        servers.append(ml)
        lam = subprocess.Popen([sys.executable, "-m", "lamina", "serve", loaded.ref, "--name",
                                "bench", "--port", str(lam_port)], cwd=work, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        servers.append(lam)
        _wait_ready(f"http://127.0.0.1:{lam_port}/v2/models/bench/ready", lam)
        _wait_ready(f"http://127.0.0.1:{ml_port}/v2/models/bench/ready", ml)

        import numpy as np
        from sklearn.datasets import load_breast_cancer

        row = load_breast_cancer(return_X_y=True)[0][0]
        body = json.dumps({"inputs": [{"name": "input-0", "datatype": "FP64",
                                       "shape": [1, width], "data": np.round(row, 6).tolist()}]}
                          ).encode()
        results: dict[str, list[dict[str, float]]] = {"lamina": [], "mlserver": []}
        for _ in range(args.rounds):
            results["lamina"].append(load(lam_port, "/v2/models/bench/infer", body,
                                          clients=args.clients, seconds=args.seconds))
            results["mlserver"].append(load(ml_port, "/v2/models/bench/infer", body,
                                            clients=args.clients, seconds=args.seconds))
        stop_process(lam, timeout=60)  # SIGTERM: the last prediction-log batch is written
        logged = read_prediction_log(stack, "bench").num_rows
        sent = sum(r["requests"] for r in results["lamina"])

        def med(name: str, key: str) -> float:
            return statistics.median(r[key] for r in results[name])

        summary = {name: {k: med(name, k) for k in ("rps", "p50", "p99")} for name in results}
        summary["ratio"] = summary["lamina"]["rps"] / summary["mlserver"]["rps"]
        summary["logged"] = logged
        summary["sent"] = sent
        if args.json:
            print(json.dumps(summary))
        cmd = "python benchmarks/serving_throughput.py" + (
            " --quick" if args.quick else
            f" --rounds {args.rounds} --seconds {args.seconds:g} --clients {args.clients}")
        table = "\n".join([
            "## Serving: lamina local server vs MLServer",
            "",
            f"`{cmd}` ({args.rounds} alternating rounds of {args.seconds:g} s, {args.clients} "
            f"client processes with one keep-alive connection each, one-row V2 JSON requests; "
            f"medians over rounds). {machine_line()}.",
            "",
            f"Model: scikit-learn {sklearn.__version__} StandardScaler + LogisticRegression, "
            f"{width} features. lamina {lamina.__version__} (`lamina serve`, uvicorn + "
            "httptools + uvloop, prediction log on, strict V2 validation and the default "
            "limits: 16 MiB body, 5 s idle and 10 s header timeouts) vs MLServer "
            f"{MLSERVER_VERSION} (mlserver-sklearn runtime, `parallel_workers: 0`).",
            "",
            "| server | requests/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
            *(f"| {name} | {summary[name]['rps']:.0f} | {summary[name]['p50']:.2f} | "
              f"{summary[name]['p99']:.2f} |" for name in ("lamina", "mlserver")),
            "",
            f"Throughput ratio lamina / MLServer: **{summary['ratio']:.2f}x**. The prediction "
            f"log holds {logged} rows for the {sent} requests lamina answered.",
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

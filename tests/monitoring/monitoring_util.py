"""Generated reference/current tables with known shifts, and prediction-log files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = ["a", "b", "c", "d"]
BASE_P = [0.4, 0.3, 0.2, 0.1]
#: The five columns the current table shifts, and how.
SHIFTED = {
    "num_0": "mean +0.5 sd",
    "num_1": "scale x1.3",
    "count_0": "Poisson mean 3 -> 3.1",
    "cat_0": "category proportions changed",
    "cat_1": "5% moved to a new category",
}


def make_table(rows: int, seed: int, *, shifted: bool) -> pa.Table:
    """20 numeric columns (15 normal, 3 Poisson(3), 2 lognormal) and 5 categorical ones;
    with ``shifted`` the five columns of SHIFTED move."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(15):
        x = rng.normal(10 * i, 1 + i, rows)
        if shifted and i == 0:
            x = x + 0.5 * 1
        if shifted and i == 1:
            x = 10 + (x - 10) * 1.3
        cols[f"num_{i}"] = x
    for i in range(3):
        lam = 3.1 if shifted and i == 0 else 3.0
        cols[f"count_{i}"] = rng.poisson(lam, rows).astype(np.int64)
    for i in range(2):
        cols[f"amount_{i}"] = rng.lognormal(3, 1, rows)
    labels = pa.array([*CATEGORIES, "new"], pa.string())
    for i in range(5):
        p = list(BASE_P)
        if shifted and i == 0:
            p = [0.37, 0.3, 0.2, 0.13]
        codes = np.searchsorted(np.cumsum(p)[:-1], rng.random(rows), side="right")
        if shifted and i == 1:
            codes[rng.random(rows) < 0.05] = len(CATEGORIES)   # 5% moved to "new"
        cols[f"cat_{i}"] = labels.take(pa.array(codes))
    return pa.table(cols)


def write_prediction_log(root: Path, deployment: str, table: pa.Table, *, start: float,
                         seconds: float, variants: tuple[str, ...] = ("a",), seed: int = 0,
                         outcomes: np.ndarray | None = None, prediction: np.ndarray | None = None,
                         parts: int = 2) -> None:
    """Write ``table`` as the serving layer's prediction log (one row per prediction,
    ``in.<feature>`` columns), spread evenly over ``seconds`` from ``start``, and its
    outcomes if given. Files are split by UTC date and into ``parts`` part files."""
    import datetime as dt

    rng = np.random.default_rng(seed)
    n = table.num_rows
    ts = np.sort(start + rng.random(n) * seconds)
    micros = (ts * 1e6).astype("int64")
    ids = [f"r{seed}-{i}" for i in range(n)]
    cols: dict[str, Any] = {
        "request_id": pa.array(ids, pa.string()),
        "timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "deployment": pa.array([deployment] * n, pa.string()),
        "variant": pa.array(np.array(variants)[rng.integers(0, len(variants), n)], pa.string()),
        "model": pa.array(["m"] * n, pa.string()),
        "latency_ms": pa.array(rng.gamma(2, 5, n)),
        "status": pa.array(np.full(n, 200, np.int32)),
    }
    for name in table.column_names:
        cols[f"in.{name}"] = table.column(name)
    if prediction is not None:
        cols["out.prediction"] = pa.array(prediction)
    log = pa.table(cols)
    days = np.array([dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat() for t in ts])
    for day in sorted(set(days)):
        idx = np.flatnonzero(days == day)
        folder = root / "predictions" / deployment / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, chunk in enumerate(np.array_split(idx, parts)):
            if chunk.size:
                pq.write_table(log.take(pa.array(chunk)), folder / f"part-{seed}-{k}.parquet")
        if outcomes is not None:
            ofolder = root / "outcomes" / deployment / f"date={day}"
            ofolder.mkdir(parents=True, exist_ok=True)
            out = pa.table({
                "request_id": pa.array([ids[i] for i in idx], pa.string()),
                "timestamp": pa.array(micros[idx] + 1000, pa.timestamp("us", tz="UTC")),
                "outcome": pa.array(outcomes[idx].astype(np.float64)),
            })
            pq.write_table(out, ofolder / f"part-{seed}.parquet")


class AlertSink:
    """A local HTTP server that records the JSON bodies POSTed to it (a webhook)."""

    def __init__(self, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received: list[dict[str, Any]] = []
        headers: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                headers.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.headers = headers
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

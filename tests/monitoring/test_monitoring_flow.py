"""``lamina monitor``: monitoring runs as a versioned flow over a deployment's prediction
log, with the model's training set as reference, alerts through the webhook plugin, the
report reachable with ``lamina monitor report RUN``, and the flow writable into a project."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from monitoring_util import AlertSink, make_table, write_prediction_log

TRAIN_FLOW = '''
import numpy as np
import pyarrow as pa
from lamina import Flow

flow = Flow("churn")

@flow.step
def training_set(rows: int = 4000) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({
        "num_0": rng.normal(0, 1, rows), "num_1": rng.normal(10, 2, rows),
        "plan": pa.array(rng.choice(["basic", "pro"], rows)),
    })

@flow.step
def model(training_set: pa.Table) -> dict:
    return {"kind": "threshold", "rows": training_set.num_rows}
'''


def _lamina(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_monitor_deployment_end_to_end(project: Path) -> None:
    sink = AlertSink()
    try:
        (project / "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\n\n'
            '[stacks.local.monitoring]\nplugin = "builtin"\nwindow = "2d"\nmin_accuracy = 0.99\n\n'
            f'[plugins.alerts_webhook]\nurl = "{sink.url}"\n')
        (project / "churn.py").write_text(TRAIN_FLOW)
        train = _lamina("run", "churn.py", cwd=project)
        assert train.returncode == 0, train.stderr
        from lamina.client import Client

        run_id = Client().latest_run("churn").id
        # a day of traffic: num_0 shifted by 0.5 sd, the rest as in training
        rng = np.random.default_rng(1)
        n = 3000
        import pyarrow as pa

        current = pa.table({"num_0": rng.normal(0.5, 1, n), "num_1": rng.normal(10, 2, n),
                            "plan": pa.array(rng.choice(["basic", "pro"], n))})
        y = rng.integers(0, 2, n)
        log_table = current
        write_prediction_log(project / ".lamina", "churn-api", log_table,
                             start=time.time() - 30 * 3600, seconds=24 * 3600,
                             variants=("a", "b"), outcomes=y,
                             prediction=rng.random(n))   # a coin: accuracy ~0.5
        # the log names the model that served: FLOW/RUN/STEP
        import pyarrow.parquet as pq

        for part in (project / ".lamina" / "predictions").rglob("*.parquet"):
            t = pq.read_table(part)
            t = t.set_column(t.column_names.index("model"), "model",
                             pa.array([f"churn/{run_id}/model"] * t.num_rows))
            pq.write_table(t, part)

        out = _lamina("monitor", "churn-api", cwd=project)
        assert out.returncode == 0, out.stderr
        assert "1 of 3 columns drifted (num_0)" in out.stdout
        assert "performance:" not in out.stdout or "accuracy" in out.stdout
        mon = Client().runs("monitoring")[0]
        assert mon.record.params["target"] == "churn-api"
        assert "monitoring" in mon.record.tags
        summary = mon["summary"].value
        assert summary["reference"]["name"] == f"{run_id}/training_set"
        assert summary["summary"]["drifted"] == ["num_0"]
        assert summary["performance"]["with_outcome"] == n
        assert set(summary["performance"]["variants"]) == {"all", "a", "b"}
        assert json.loads(json.dumps(summary)) == summary
        alerts = {a["name"] for a in mon["alerts"].value}
        assert {"drift:num_0", "performance:all:accuracy"} <= alerts
        posted = {r["alert"] for r in sink.received}
        assert {"drift:num_0", "performance:a:accuracy"} <= posted
        assert mon["report"].task.metrics["drifted_columns"] == 1.0

        shown = _lamina("monitor", "report", mon.id, cwd=project)
        assert shown.returncode == 0, shown.stderr
        path = Path(shown.stdout.strip())
        assert path.is_file() and path.read_text().startswith("<!DOCTYPE html>")
        assert "num_0" in path.read_text()
    finally:
        sink.close()


@pytest.mark.slow
def test_write_flow_then_run_it_like_any_flow(project: Path) -> None:
    ref = make_table(3000, 0, shifted=False)
    cur = make_table(3000, 1, shifted=True)
    import pyarrow.parquet as pq

    pq.write_table(ref, project / "ref.parquet")
    pq.write_table(cur, project / "cur.parquet")
    wrote = _lamina("monitor", "scoring", "--write-flow", "monitor_scoring.py", cwd=project)
    assert wrote.returncode == 0, wrote.stderr
    text = (project / "monitor_scoring.py").read_text()
    assert "TARGET = 'scoring'" in text and "FLOW_NAME = 'monitor-scoring'" in text
    run = _lamina("run", "monitor_scoring.py", "--set", "reference=ref.parquet",
                  "--set", "current=cur.parquet", cwd=project)
    assert run.returncode == 0, run.stderr
    from lamina.client import Client

    done = Client().latest_run("monitor-scoring")
    assert done.record.flow_file == "monitor_scoring.py"       # the project's own file
    drifted = done["summary"].value["summary"]["drifted"]
    assert {"num_0", "num_1", "cat_1"} <= set(drifted)
    again = _lamina("monitor", "scoring", "--write-flow", "monitor_scoring.py", cwd=project)
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.slow
def test_monitor_errors_name_the_fix(project: Path) -> None:
    out = _lamina("monitor", "nowhere", "--window", "1h", cwd=project)
    assert out.returncode == 1
    assert "no rows" in out.stderr and "fix:" in out.stderr
    bad = _lamina("monitor", "x", "--window", "soon", cwd=project)
    assert bad.returncode == 1 and "30m, 12h, 1d" in bad.stderr

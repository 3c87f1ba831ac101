"""The MLServer environment for the Seldon runtime's integration test and the benchmark."""

from __future__ import annotations

from pathlib import Path

from envs_util import REPO, ensure_env

#: MLServer 1.7 pins fastapi < 0.116, so it lives in an environment of its own.
MLSERVER_VERSION = "1.7.1"


def mlserver_python() -> Path:
    """The python of a cached environment with MLServer, mlserver-sklearn, this repository's
    lamina core and the lamina-serving-seldon plugin (editable), and the project's
    scikit-learn version, so a model pickled by a flow loads there unchanged."""
    import sklearn

    return ensure_env(
        "mlserver",
        [
            f"mlserver=={MLSERVER_VERSION}",
            f"mlserver-sklearn=={MLSERVER_VERSION}",
            f"scikit-learn=={sklearn.__version__}",
        ],
        editable=[REPO, REPO / "plugins" / "serving_seldon"],
    )


FLOW = Path(__file__).resolve().parents[1] / "serving" / "iris_flow.py"


def train_iris(project: Path) -> str:
    """One run of the serving tests' iris flow in ``project``; its model's FLOW/RUN/STEP."""
    import os
    import shutil
    import subprocess
    import sys

    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(FLOW, project / "iris_flow.py")
    env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
    proc = subprocess.run([sys.executable, "-m", "lamina", "run", "iris_flow.py"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    from lamina.client import Client
    from lamina.stack import Stack

    return f"iris/{Client(Stack.load(cwd=project, env={})).latest_run('iris').id}/model"

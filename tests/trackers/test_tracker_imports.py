"""The tracker and explanation plugins stay off ``import lamina`` and ``lamina --help``:
MLflow, W&B and shap load only when a run is mirrored or a model explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import sys
import lamina
from lamina.cli.main import main
rc = main(['--help'])
heavy = {'mlflow', 'wandb', 'shap', 'sklearn', 'numpy', 'pyarrow', 'rich'}
print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))
"""


def test_help_loads_the_plugins_but_none_of_their_libraries(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "explain" in proc.stdout          # lamina-explain-shap's command is in the help
    assert proc.stdout.strip().splitlines()[-1] == "[]"

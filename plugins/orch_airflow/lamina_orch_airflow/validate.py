"""Parse a generated DAG file with the Airflow installation that will run it, before it
goes into the dags folder (the ``airflow_python`` option)."""

from __future__ import annotations

import os
import subprocess
import tempfile

from lamina.sdk import LaminaError

# Run in Airflow's interpreter: exit 3 without Airflow 3, 4 when the file does not import,
# 5 when it defines no DAG.
_CHECK = r"""
import runpy, sys, traceback
try:
    import airflow.sdk
except Exception as err:
    print(f"{type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(3)
try:
    names = runpy.run_path(sys.argv[1])
except Exception:
    traceback.print_exc()
    sys.exit(4)
if not any(type(v).__name__ == "DAG" for v in names.values()):
    sys.exit(5)
"""


def check_with_airflow(text: str, airflow_python: str, dag_id: str) -> None:
    """Import the DAG file ``text`` with ``airflow_python``; raise :class:`LaminaError` if
    Airflow is missing there or the file does not define the DAG."""
    with tempfile.TemporaryDirectory(prefix="lamina-dag-") as folder:
        path = os.path.join(folder, f"{dag_id}.py")
        with open(path, "w") as handle:
            handle.write(text)
        try:
            done = subprocess.run([airflow_python, "-c", _CHECK, path], capture_output=True,
                                  text=True, timeout=600)
        except FileNotFoundError:
            raise LaminaError(
                f"Airflow is not installed where the DAG is checked: the interpreter "
                f"{airflow_python!r} (option airflow_python) does not exist",
                hint="point airflow_python at the python of Airflow's environment, or unset it "
                "to deploy without checking",
            ) from None
    if done.returncode == 3:
        raise LaminaError(
            f"Airflow 3 is not installed in {airflow_python} (option airflow_python): "
            f"`import airflow.sdk` failed: {done.stderr.strip().splitlines()[-1:]}",
            hint="pip install 'apache-airflow>=3' in that environment, or point airflow_python "
            "at the interpreter Airflow runs with",
        )
    if done.returncode == 4:
        missing = "apache-airflow-providers-cncf-kubernetes" if "cncf" in done.stderr else ""
        raise LaminaError(
            f"the DAG file for {dag_id} does not import in Airflow ({airflow_python}):\n"
            f"{done.stderr.strip()[-2000:]}",
            hint=f"pip install {missing} in Airflow's environment" if missing
            else "report this: lamina generated a DAG file Airflow rejects",
        )
    if done.returncode != 0:
        raise LaminaError(
            f"the DAG file for {dag_id} defines no DAG in Airflow ({airflow_python}), exit "
            f"{done.returncode}: {done.stderr.strip()[-2000:]}",
        )

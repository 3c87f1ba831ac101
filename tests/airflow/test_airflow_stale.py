"""When the flow file changed after a run or a deployment, lamina says so: at
`deploy --dry-run` (the DAG in the dags folder runs the old snapshot), in `lamina show` of a
run (its code is not the code here; a deployed flow keeps running its snapshot) and at
`lamina resume`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_util import SHOP_FLOW


def _lamina(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def _project(root: Path) -> None:
    (root / "dags").mkdir()
    (root / "lamina.toml").write_text(
        '[stacks.af]\ndatastore = "file://.lamina"\n'
        f'orchestrator = {{ plugin = "airflow", dags_folder = "dags", python = {sys.executable!r} }}\n'
        '\n[stacks.here]\ndatastore = "file://.lamina"\n'
    )
    (root / "flow.py").write_text(SHOP_FLOW)


def test_deploy_dry_run_and_show_say_the_deployed_code_is_stale(project: Path) -> None:
    _project(project)
    done = _lamina(project, "deploy", "flow.py", "--stack", "af")
    assert done.returncode == 0, done.stderr
    deployment = next(
        line.split("'")[1] for line in (project / "dags" / "lamina_shop.py").read_text().splitlines()
        if line.startswith("DEPLOYMENT = ")
    )
    started = _lamina(project, "stepwise", "start", "--stack", "af", "--flow", "shop",
                      "--deployment", deployment, "--params", '{"title": "t"}')
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]

    same = _lamina(project, "deploy", "flow.py", "--stack", "af", "--dry-run")
    assert same.returncode == 0 and "snapshot" not in same.stderr
    shown = _lamina(project, "show", run_id, "--stack", "af")
    assert "note" not in shown.stdout

    (project / "flow.py").write_text(SHOP_FLOW.replace("len(regions) * scale", "len(regions) * scale * 2"))
    changed = _lamina(project, "deploy", "flow.py", "--stack", "af", "--dry-run")
    assert changed.returncode == 0, changed.stderr
    assert f"runs code snapshot {deployment}; the flow here is snapshot" in changed.stderr
    assert "until you deploy without --dry-run" in changed.stderr
    shown = _lamina(project, "show", run_id, "--stack", "af")
    assert shown.returncode == 0, shown.stderr
    assert f"differs from the snapshot run {run_id} executed" in shown.stdout
    assert f"keeps running snapshot {deployment} until you `lamina deploy` it again" in shown.stdout


def test_resume_says_the_flow_changed_since_the_run(project: Path) -> None:
    _project(project)
    flow = SHOP_FLOW.replace('def report(sales: list[float], title: str)',
                             'def report(sales: list[float], title: str = "x")')
    (project / "flow.py").write_text(flow.replace("return f\"{title}", "raise ValueError(title)\n    return f\"{title}"))
    failed = _lamina(project, "run", "flow.py", "--stack", "here")
    assert failed.returncode == 1
    run_id = failed.stdout.split()[1]
    (project / "flow.py").write_text(flow)
    resumed = _lamina(project, "resume", run_id, "--stack", "here")
    assert resumed.returncode == 0, resumed.stderr
    assert f"differs from the snapshot run {run_id} executed" in resumed.stderr

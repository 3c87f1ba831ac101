"""``lamina gc`` with the team's metadata store, PostgreSQL: the same promises as on
SQLite, through the same interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gc_util import FLOW, age_objects, check_all_load, flow_of, lamina, stack_of

from lamina.errors import RunNotFoundError
from lamina.retention import collect, why_kept


def test_gc_on_postgres_keeps_what_is_needed_and_deletes_the_rest(
    tmp_path: Path, pg_server: Any, pg_database: str, pg_url: str, pg_schema: str
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "flow.py").write_text(FLOW)
    (root / "lamina.toml").write_text(
        'default_stack = "team"\n[stacks.team]\ndatastore = ".lamina"\n'
        f'metadata = {{ plugin = "postgres", url = "{pg_url}", schema = "{pg_schema}" }}\n'
        '[stacks.team.retention]\nkeep_last = 1\nkeep_last_per_branch = 0\n'
        'keep_newer_than = ""\ngrace = "1h"\n')
    stack, flow = stack_of(root), flow_of(root)
    tagged = flow.run(stack=stack, tag="t", tags=["keep"])
    model = flow.run(stack=stack, tag="m")
    origin = flow.run(stack=stack, cache=True, tag="c")
    reuser = flow.run(stack=stack, cache=True, tag="c", tags=["keep"])
    plain = flow.run(stack=stack, tag="p")
    newest = flow.run(stack=stack, tag="n")
    with pg_server.connect(pg_database) as conn:  # what the model registry records
        conn.execute(f'INSERT INTO "{pg_schema}".model_versions '
                     "(namespace, name, version, ref, run_id) VALUES (%s, %s, %s, %s, %s)",
                     (model.namespace, "churn", 1, f"gcflow/{model.id}/total", model.id))
    age_objects(root, 2 * 3600)
    report = collect(stack)
    assert [r[0] for r in report.runs_deleted] == [plain.id]
    assert report.objects_deleted > 0
    assert sorted(check_all_load(stack)) == sorted(
        [tagged.id, model.id, origin.id, reuser.id, newest.id])
    with pytest.raises(RunNotFoundError):
        stack.metadata.get_run(plain.id)
    assert why_kept(stack, model.id) == "a registered model version"
    assert why_kept(stack, origin.id) == f"run {reuser.id} reused its results"
    refused = lamina(root, "runs", "--delete", model.id)
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[0] == (
        f"lamina: error: run {model.id} is kept: a registered model version")

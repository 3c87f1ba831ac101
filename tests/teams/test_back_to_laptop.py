"""Production back to the laptop: a run that failed on the team's stack (S3 datastore on a
moto server, PostgreSQL metadata) is resumed on the laptop's stack (file datastore,
SQLite) from its code snapshot and stored results, or pulled there first."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lamina_metadata_postgres.store import PostgresMetadataStore
from s3_util import clean_aws_env, lamina

import lamina as lam

FLOW = Path(__file__).parent / "flows" / "backhome.py"


def config(bucket: str, endpoint: str, pg_url: str, pg_schema: str) -> str:
    return (
        "[stacks.team]\n"
        f'datastore = {{ plugin = "s3", url = "s3://{bucket}/lamina", '
        f'endpoint_url = "{endpoint}" }}\n'
        f'metadata = {{ plugin = "postgres", url = "{pg_url}", schema = "{pg_schema}" }}\n\n'
        "[stacks.local]\n"
        'datastore = "file://.lamina"\n'
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory, moto, pg_server, pg_database) -> Iterator[dict]:
    """A run of ``backhome`` that failed on the team stack, launched by alice from a
    production folder whose flow file is then gone (it ran on another machine)."""
    tmp_path = tmp_path_factory.mktemp("team")
    pg_url, pg_schema = pg_server.url(pg_database), f"t_{uuid.uuid4().hex[:10]}"
    toml = config(moto.make_bucket(), moto.endpoint, pg_url, pg_schema)
    env = {**clean_aws_env(tmp_path), **moto.env()}
    prod = tmp_path / "prod"
    prod.mkdir()
    (prod / "lamina.toml").write_text(toml)
    shutil.copyfile(FLOW, prod / "flow.py")
    outage, marks = tmp_path / "outage", tmp_path / "marks"
    outage.write_text("down")
    done = lamina(prod, {**env, "LAMINA_USER": "alice"}, "run", "flow.py", "--stack", "team",
                  "--set", f"outage={outage}", "--set", f"marks={marks}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "production outage" in done.stdout + done.stderr
    (prod / "flow.py").unlink()
    outage.unlink()  # the outage is over
    store = PostgresMetadataStore(pg_url, schema=pg_schema)
    (origin,) = store.list_runs()
    store.close()
    assert origin.status == "failed" and origin.user == "alice"
    assert sorted(marks.read_text().split()) == [str(i) for i in range(6)]  # once each
    yield {"toml": toml, "env": {**env, "LAMINA_USER": "bob"}, "origin": origin,
           "marks": marks, "pg_url": pg_url, "pg_schema": pg_schema}
    with pg_server.connect(pg_database) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE')


@pytest.fixture
def failed_in_production(production: dict, tmp_path: Path) -> dict:
    """The production run, and bob's laptop: a folder with the same stacks, no flow file."""
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    (laptop / "lamina.toml").write_text(production["toml"])
    return {**production, "laptop": laptop}


def test_a_failed_production_run_is_resumed_on_the_laptop(failed_in_production: dict,
                                                         monkeypatch) -> None:
    laptop, env, origin = (failed_in_production[k] for k in ("laptop", "env", "origin"))
    done = lamina(laptop, env, "resume", origin.run_id[:14], "--from", "team",
                  "--stack", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    # the squares were not run again: their results came from the S3 datastore
    assert sorted(failed_in_production["marks"].read_text().split()) == [str(i) for i in range(6)]

    monkeypatch.chdir(laptop)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run = lam.Client("local").latest_run("backhome")
    record = run.record
    assert record.resumed_from == origin.run_id
    assert record.status == "succeeded" and run["total"].value == 55.0
    assert record.stack == "local" and record.orchestrator == "local"
    assert record.user == "bob"
    assert record.datastore_url == str(laptop / ".lamina")
    reused = {t.record.step: t.record.reused_from for t in run.tasks() if t.record.reused_from}
    assert set(reused) == {"numbers", "square"}
    assert all(r.startswith(origin.run_id) for r in reused.values())
    # recorded on the laptop only: the team store still holds the one production run
    store = PostgresMetadataStore(failed_in_production["pg_url"],
                                  schema=failed_in_production["pg_schema"])
    assert [r.run_id for r in store.list_runs()] == [origin.run_id]
    store.close()


def test_pull_copies_the_run_then_a_notebook_resumes_it(failed_in_production: dict,
                                                       monkeypatch) -> None:
    laptop, env, origin = (failed_in_production[k] for k in ("laptop", "env", "origin"))
    first = lamina(laptop, env, "pull", origin.run_id, "--from", "team", "--stack", "local")
    assert first.returncode == 0, first.stderr
    assert "record copied" in first.stdout
    again = lamina(laptop, env, "pull", origin.run_id, "--from", "team", "--stack", "local")
    assert again.returncode == 0 and "record already here" in again.stdout, again.stdout
    assert "0 datastore records and 0 objects copied" in again.stdout
    # alice's run, pulled by bob: read in her namespace
    shown = lamina(laptop, env, "show", origin.run_id, "--stack", "local", "--json",
                   "--namespace", "user:alice")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "failed"

    monkeypatch.chdir(laptop)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pulled = lam.Client("local", namespace="user:alice").run(origin.run_id)
    # alice's values: bob consents to unpickling them (read from the laptop)
    assert pulled["square"].load(trust=True) == [i * i for i in range(6)]
    resumed = lam.Client("team", namespace=None).run(origin.run_id).resume(stack="local", scale=2)
    assert resumed.record.resumed_from == origin.run_id
    assert resumed["total"].value == 110.0 and resumed.record.params["scale"] == 2
    assert sorted(failed_in_production["marks"].read_text().split()) == [str(i) for i in range(6)]


def test_resume_of_a_run_on_another_stack_without_from_says_how(failed_in_production):
    laptop, env, origin = (failed_in_production[k] for k in ("laptop", "env", "origin"))
    done = lamina(laptop, env, "resume", origin.run_id, "--stack", "local")
    assert done.returncode == 1
    assert origin.run_id in done.stderr and "--from" in done.stderr, done.stderr

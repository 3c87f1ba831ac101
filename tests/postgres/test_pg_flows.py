"""Real flows with their metadata on PostgreSQL: a run end to end, a session killed
mid-run, a server stopped mid-run then a resume, and the `lamina metadata` commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lamina_metadata_postgres.migrations import SCHEMA_VERSION
from lamina_metadata_postgres.store import PostgresMetadataStore

import lamina
from lamina.errors import ConfigError

FLOW = Path(__file__).parent / "flows" / "pg_square.py"


def lamina_cli(project: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args], cwd=project, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def team_config(project: Path, url: str, schema: str, extra: str = "") -> None:
    (project / "lamina.toml").write_text(
        "[stacks.local]\n"
        'datastore = "file://.lamina"\n\n'
        "[stacks.team]\n"
        'datastore = "file://.lamina"\n'
        f'metadata = {{ plugin = "postgres", url = "{url}", schema = "{schema}"{extra} }}\n'
    )


def test_a_flow_runs_end_to_end_with_postgres_metadata(project, pg_url, pg_schema):
    team_config(project, pg_url, pg_schema)
    done = lamina_cli(project, "run", str(FLOW), "--stack", "team", "--set", "n=12")
    assert done.returncode == 0, done.stderr
    client = lamina.Client("team")
    run = client.latest_run("pgsquare")
    assert run.status == "succeeded" and run["total"].value == sum(i * i for i in range(12))
    assert run["square"].value == [i * i for i in range(12)]
    # the record is in PostgreSQL, not in a SQLite file
    store = PostgresMetadataStore(pg_url, schema=pg_schema)
    assert [r.run_id for r in store.list_runs()] == [run.id]
    assert len(store.list_tasks(run.id)) == 1 + 12 + 1
    assert store.get_run(run.id).stack == "team"
    store.close()
    listed = lamina_cli(project, "runs", "--stack", "team")
    assert listed.returncode == 0 and run.id in listed.stdout, listed.stderr
    check = lamina_cli(project, "stack", "check", "--stack", "team")
    assert "postgres metadata at" in check.stdout and "1 run" in check.stdout, check.stdout


def test_a_session_killed_mid_run_is_reopened_and_the_run_succeeds(project, pg_url, pg_schema):
    team_config(project, pg_url, pg_schema)
    marks = project / "marks.txt"
    done = lamina_cli(project, "run", str(FLOW), "--stack", "team", "--set", "n=12",
                      "--set", "kill_at=5", "--set", f"admin_url={pg_url}",
                      "--set", "pause=0.05", "--set", f"marks={marks}")
    assert done.returncode == 0, done.stderr
    killed = [int(line.split()[1]) for line in marks.read_text().splitlines()
              if line.startswith("killed")]
    assert killed and killed[0] >= 1, "the step must have ended the run's session"
    store = PostgresMetadataStore(pg_url, schema=pg_schema)
    (record,) = store.list_runs()
    assert record.status == "succeeded"
    tasks = store.list_tasks(record.run_id)
    assert len(tasks) == 14 and all(t.status == "succeeded" for t in tasks)
    store.close()


def test_a_server_stopped_mid_run_fails_clearly_and_the_run_resumes(project, throwaway_server):
    with throwaway_server.connect() as conn:
        conn.execute("CREATE DATABASE midrun")
    url = throwaway_server.url("midrun")
    team_config(project, url, "lamina", extra=", retries = 1, retry_wait = 0.2")
    marks = project / "marks.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", str(FLOW), "--stack", "team", "--set", "n=16",
         "--set", "pause=0.4", "--set", f"marks={marks}"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 60
        while not (marks.exists() and len(marks.read_text().split("\n")) > 3):
            assert time.time() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        throwaway_server.pg_ctl("stop", "-m", "fast")
        _out, err = proc.communicate(timeout=120)
    finally:
        throwaway_server.pg_ctl("start")
    assert proc.returncode == 1, err
    last = [line for line in err.strip().splitlines() if line.startswith("lamina: error:")]
    assert last, err
    message = last[-1]
    assert "stack 'team'" in message and f"127.0.0.1:{throwaway_server.port}/midrun" in message
    assert "Traceback" not in err
    assert "lamina resume" in err

    store = PostgresMetadataStore(url)
    (failed,) = store.list_runs()
    assert failed.status == "crashed"  # no record that lies: not succeeded, not "running"
    store.close()
    resumed = lamina_cli(project, "resume", failed.run_id, "--stack", "team")
    assert resumed.returncode == 0, resumed.stderr
    run = lamina.Client("team").latest_run("pgsquare")
    assert run.record.resumed_from == failed.run_id
    assert run["total"].value == sum(i * i for i in range(16))
    # the same result as a run the server never left: the same artifacts, byte for byte
    clean = lamina_cli(project, "run", str(FLOW), "--stack", "local", "--set", "n=16")
    assert clean.returncode == 0, clean.stderr
    reference = lamina.Client("local").latest_run("pgsquare")
    for step in ("numbers", "square", "total"):
        assert ([t.ref.key for t in run[step]] == [t.ref.key for t in reference[step]]), step


def test_a_server_restarted_mid_run_is_waited_for_and_the_run_succeeds(project,
                                                                      throwaway_server):
    with throwaway_server.connect() as conn:
        conn.execute("CREATE DATABASE restart_run")
    url = throwaway_server.url("restart_run")
    team_config(project, url, "lamina")  # the default retries: about 11 s of back-off
    marks = project / "marks.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", str(FLOW), "--stack", "team", "--set", "n=16",
         "--set", "pause=0.3", "--set", f"marks={marks}"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 60
    while not (marks.exists() and len(marks.read_text().split("\n")) > 3):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    throwaway_server.pg_ctl("restart", "-m", "fast")
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    store = PostgresMetadataStore(url)
    (record,) = store.list_runs()
    assert record.status == "succeeded"
    tasks = store.list_tasks(record.run_id)
    assert len(tasks) == 18 and all(t.status == "succeeded" for t in tasks)
    store.close()


def test_metadata_migrate_command(project, pg_url, pg_schema):
    team_config(project, pg_url, pg_schema, extra=", auto_migrate = false")
    refused = lamina_cli(project, "runs", "--stack", "team")
    assert refused.returncode == 1
    assert "lamina metadata migrate --stack team" in refused.stderr
    first = lamina_cli(project, "metadata", "migrate", "--stack", "team")
    assert first.returncode == 0, first.stderr
    assert f"migrated from version 0 to {SCHEMA_VERSION}" in first.stdout
    again = lamina_cli(project, "metadata", "migrate", "--stack", "team")
    assert f"up to date (version {SCHEMA_VERSION})" in again.stdout
    assert lamina_cli(project, "runs", "--stack", "team").returncode == 0
    local = lamina_cli(project, "metadata", "migrate", "--stack", "local")
    assert local.returncode == 1 and "not postgres" in local.stderr


def test_metadata_copy_moves_a_laptops_history_and_is_idempotent(project, pg_url, pg_schema):
    team_config(project, pg_url, pg_schema)
    for n in ("3", "4"):
        done = lamina_cli(project, "run", str(FLOW), "--stack", "local", "--set", f"n={n}")
        assert done.returncode == 0, done.stderr
    local = lamina.Client("local").runs()
    lamina_cli(project, "tag", local[0].id, "keep", "--stack", "local")
    copied = lamina_cli(project, "metadata", "copy", "--from", "local", "--to", "team")
    assert copied.returncode == 0, copied.stderr
    assert "2 runs created" in copied.stdout
    again = lamina_cli(project, "metadata", "copy", "--from", "local", "--to", "team")
    assert "0 runs created" in again.stdout and "2 already there" in again.stdout

    sqlite = lamina.load_stack("local").metadata
    team = PostgresMetadataStore(pg_url, schema=pg_schema)
    assert team.list_runs() == sqlite.list_runs()  # ids, statuses, timings, tags kept
    for run in sqlite.list_runs():
        assert team.list_tasks(run.run_id) == sqlite.list_tasks(run.run_id)
    assert "keep" in team.get_run(local[0].id).tags
    # results read through the team stack: the datastore is shared, the record copied
    assert lamina.Client("team").run(local[0].id)["total"].value == sum(i * i for i in range(4))
    team.close()


def test_a_password_is_never_written_in_the_config_nor_printed(project, pg_url, pg_schema):
    literal = pg_url.replace("://", "://postgres:hunter2-literal@", 1).replace(
        "postgres:hunter2-literal@postgres@", "postgres:hunter2-literal@")
    team_config(project, literal, pg_schema)
    with pytest.raises(ConfigError, match="password written in the config") as info:
        lamina.load_stack("team").metadata  # noqa: B018
    assert "hunter2-literal" not in str(info.value)

    team_config(project, pg_url, pg_schema, extra=', password = "${LAMINA_PG_PASSWORD}"')
    env = {"LAMINA_PG_PASSWORD": "hunter2-from-env"}
    shown = lamina_cli(project, "stack", "show", "--stack", "team", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "hunter2-from-env" not in shown.stdout + shown.stderr and "****" in shown.stdout
    listed = lamina_cli(project, "runs", "--stack", "team", env=env)  # trust auth: ignored
    assert listed.returncode == 0, listed.stderr
    missing = lamina_cli(project, "runs", "--stack", "team")
    assert missing.returncode == 1 and "LAMINA_PG_PASSWORD" in missing.stderr

"""Secrets are never stored (defect 4 of the hardening trials): a run whose stack takes a
secret through ``${VAR}`` in every secret-bearing option (the S3 endpoint, keys and
secret; the PostgreSQL password in its URL), and the Airflow DAG of the same stack, leave
no secret value in the datastore, the metadata store (SQLite and PostgreSQL), `lamina runs
--json`, the logs or the DAG file; only the templates."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from s3_util import clean_aws_env

FLOW = '''from lamina import Flow

flow = Flow("secretive")


@flow.step
def numbers() -> list[int]:
    print("made numbers")
    return [1, 2, 3]


@flow.step
def total(numbers):
    return sum(numbers)
'''
S3_KEY, S3_SECRET, PG_PASSWORD = "AKIDsecretKey7781", "s3cr3t-Value-99X", "pgPass-Word-5521"


def _lamina(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", "-v", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240)


def _dump_postgres(pg_server, database: str, schema: str) -> str:  # type: ignore[no-untyped-def]
    with pg_server.connect(database) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert tables, f"no tables in schema {schema}"
        return "\n".join(
            str(row) for t in tables
            for row in conn.execute(f'SELECT * FROM "{schema}"."{t}"'))


@pytest.mark.parametrize("metadata", ["sqlite", "postgres"])
def test_no_secret_value_is_stored_anywhere(tmp_path: Path, moto, pg_server, pg_database,
                                            metadata: str) -> None:
    bucket = moto.make_bucket()
    root = tmp_path / "project"
    root.mkdir()
    (root / "flow.py").write_text(FLOW)
    (root / "dags").mkdir()
    host, port = moto.endpoint.removeprefix("http://").split(":")
    schema = f"sec_{metadata}_{os.getpid()}"
    meta = ('metadata = { plugin = "sqlite", path = ".lamina-meta/metadata.db" }'
            if metadata == "sqlite" else
            f'metadata = {{ plugin = "postgres", url = "postgresql://{pg_server.user}:'
            f'${{PG_PASSWORD}}@{pg_server.host}:{pg_server.port}/{pg_database}", '
            f'schema = "{schema}" }}')
    (root / "lamina.toml").write_text(
        "[stacks.team]\n"
        f'datastore = {{ plugin = "s3", url = "s3://{bucket}/lamina", '
        f'endpoint_url = "http://${{S3_HOST}}:{port}", access_key_id = "${{S3_KEY}}", '
        'secret_access_key = "${S3_SECRET}", addressing_style = "path" }\n'
        f"{meta}\n"
        'orchestrator = { plugin = "airflow", dags_folder = "dags" }\n'
        "[stacks.local]\n"
        f'datastore = {{ plugin = "s3", url = "s3://{bucket}/lamina", '
        f'endpoint_url = "http://${{S3_HOST}}:{port}", access_key_id = "${{S3_KEY}}", '
        'secret_access_key = "${S3_SECRET}", addressing_style = "path" }\n'
        f"{meta}\n"
    )
    env = {**clean_aws_env(tmp_path), "S3_HOST": host, "S3_KEY": S3_KEY,
           "S3_SECRET": S3_SECRET, "PG_PASSWORD": PG_PASSWORD, "LAMINA_CONFIG": "",
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    # moto accepts any key pair: the secret values only ever reach it through ${VAR}
    secrets = [S3_KEY, S3_SECRET, PG_PASSWORD, moto.endpoint]

    ran = _lamina(root, env, "--stack", "local", "run", "flow.py")
    assert ran.returncode == 0, ran.stderr
    runs = _lamina(root, env, "--stack", "local", "runs", "--json")
    assert runs.returncode == 0, runs.stderr
    record = json.loads(runs.stdout)[0]
    assert f"endpoint_url=http://${{S3_HOST}}:{port}" in record["datastore_url"]
    shown = _lamina(root, env, "--stack", "local", "show", record["run_id"])
    dry = _lamina(root, env, "--stack", "team", "deploy", "flow.py", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    deployed = _lamina(root, env, "--stack", "team", "deploy", "flow.py")
    assert deployed.returncode == 0, deployed.stderr
    dag = next((root / "dags").glob("*.py")).read_text()
    assert "${S3_HOST}" in dag

    client = moto.client()
    stored = [client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
              for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for o in page.get("Contents", [])]
    assert len(stored) > 5
    places = {
        "datastore": b"\n".join(stored).decode("utf-8", "replace"),
        "runs --json": runs.stdout, "logs": ran.stderr + ran.stdout + shown.stderr
        + dry.stderr + deployed.stderr, "dag (dry run)": dry.stdout, "dag file": dag,
    }
    if metadata == "sqlite":
        with sqlite3.connect(root / ".lamina-meta" / "metadata.db") as db:
            places["sqlite"] = "\n".join(
                "\n".join(str(row) for row in db.execute(f'SELECT * FROM "{t}"'))
                for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        places["sqlite file"] = (root / ".lamina-meta" / "metadata.db").read_bytes().decode(
            "latin-1")
    else:
        places["postgres"] = _dump_postgres(pg_server, pg_database, schema)
    assert record["run_id"] in places["sqlite" if metadata == "sqlite" else "postgres"]
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} is stored in the {where}"

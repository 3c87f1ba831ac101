"""What the PostgreSQL store adds to the contract: its versioned schema, lost connections,
and one-line errors that name the stack and the server but never the password."""

from __future__ import annotations

import json
import os
import time

import psycopg
import pytest
from lamina_metadata_postgres.migrations import SCHEMA_VERSION
from lamina_metadata_postgres.store import PostgresMetadataStore

from lamina.errors import BackendUnreachableError, MetadataError
from lamina.records import RunRecord, TaskRecord
from lamina.versioning.ids import new_run_id


def make_run(**changes) -> RunRecord:
    values = dict(run_id=new_run_id(), flow="churn", status="running",
                  started_at=time.time(), pid=os.getpid(), steps=("raw",))
    values.update(changes)
    return RunRecord(**values)


def one_line(err: BaseException) -> str:
    """The message (without the fix) is one line."""
    message = getattr(err, "message", str(err))
    assert "\n" not in message, message
    return str(err)


def columns(conn: psycopg.Connection, schema: str, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s", (schema, table)).fetchall()
    return {r[0] for r in rows}


# --- schema ---------------------------------------------------------------------------


def test_every_record_field_has_a_column_and_runs_have_a_namespace(pg_store, pg_server,
                                                                    pg_database, pg_schema):
    """A field added to RunRecord/TaskRecord needs a migration adding its column."""
    pg_store.check()
    with pg_server.connect(pg_database) as conn:
        run_cols = columns(conn, pg_schema, "runs")
        task_cols = columns(conn, pg_schema, "tasks")
    run_fields = {a.name for a in RunRecord.__attrs_attrs__} - {"tags"}
    task_fields = {a.name for a in TaskRecord.__attrs_attrs__}
    assert run_fields <= run_cols, f"add a migration for {run_fields - run_cols}"
    assert task_fields <= task_cols, f"add a migration for {task_fields - task_cols}"
    assert "namespace" in run_cols  # ready for namespaces


def test_the_schema_is_created_once_and_versioned(pg_store, pg_server, pg_database, pg_schema):
    assert pg_store.schema_version() == SCHEMA_VERSION
    assert pg_store.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)  # idempotent
    with pg_server.connect(pg_database) as conn:
        rows = conn.execute(
            f'SELECT version, applied_by FROM "{pg_schema}".schema_version ORDER BY version'
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert "@" in rows[0][1]  # who@host applied it


def test_a_newer_schema_is_refused_with_the_upgrade_to_install(pg_store, pg_server,
                                                               pg_database, pg_schema, pg_url):
    pg_store.create_run(make_run())
    pg_store.close()
    with pg_server.connect(pg_database) as conn:
        conn.execute(f'INSERT INTO "{pg_schema}".schema_version VALUES (%s, 0, %s)',
                     (SCHEMA_VERSION + 1, "a newer lamina"))
    newer = PostgresMetadataStore(pg_url, schema=pg_schema, stack="team")
    with pytest.raises(MetadataError) as info:
        newer.list_runs()
    text = one_line(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in text and "stack 'team'" in text
    assert pg_url.split("//")[1].split("/")[0] in text  # the server
    assert "pip install -U lamina-metadata-postgres" in text
    with pytest.raises(BackendUnreachableError, match="newer"):
        newer.check()
    with pytest.raises(MetadataError, match="newer"):
        newer.migrate()  # migrating never goes backwards


def test_without_auto_migrate_an_old_schema_waits_for_lamina_metadata_migrate(pg_url, pg_schema):
    store = PostgresMetadataStore(pg_url, schema=pg_schema, stack="team", auto_migrate=False)
    with pytest.raises(MetadataError, match="lamina metadata migrate --stack team"):
        store.list_runs()
    assert store.migrate() == (0, SCHEMA_VERSION)
    assert store.list_runs() == []
    store.close()


def test_records_are_json_the_server_can_query(pg_store, pg_server, pg_database, pg_schema):
    run = make_run(params={"alpha": 0.5, "grid": [1, 2]})
    pg_store.create_run(run)
    with pg_server.connect(pg_database) as conn:
        alpha, steps = conn.execute(
            f"""SELECT (params->>'alpha')::float, steps::text FROM "{pg_schema}".runs
            WHERE run_id = %s""", (run.run_id,)).fetchone()
    assert alpha == 0.5 and json.loads(steps) == ["raw"]


def test_nul_characters_go_in_json_and_are_refused_by_name_elsewhere(pg_store):
    """PostgreSQL text cannot hold NUL (SQLite can): the field and the run are named."""
    run = make_run(params={"odd": "nul \x00 inside"})
    pg_store.create_run(run)
    assert pg_store.get_run(run.run_id).params == run.params
    bad = make_run(user="a\x00b")
    with pytest.raises(MetadataError, match=rf"user of run {bad.run_id}.*NUL") as info:
        pg_store.create_run(bad)
    assert info.value.hint


# --- lost connections ----------------------------------------------------------------------


def backend_pid(store: PostgresMetadataStore) -> int:
    assert store._conn is not None
    return int(store._conn.info.backend_pid)


def test_a_killed_session_is_reopened_and_the_operation_retried(pg_store, pg_server,
                                                               pg_database):
    run = make_run()
    pg_store.create_run(run)
    for step in ("record", "finish", "read"):
        killed = backend_pid(pg_store)
        with pg_server.connect(pg_database) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (killed,)).fetchone()[0]
        if step == "record":
            pg_store.record_tasks([TaskRecord(run_id=run.run_id, step="raw", index=i,
                                              status="succeeded") for i in range(10)])
        elif step == "finish":
            pg_store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
        else:
            assert pg_store.get_run(run.run_id).status == "succeeded"
        assert backend_pid(pg_store) != killed
    assert len(pg_store.list_tasks(run.run_id)) == 10


def test_a_register_retried_after_its_commit_makes_one_version(pg_store, pg_server,
                                                                pg_database):
    """The connection drops after the first try committed (the client never heard back):
    the retry finds that version instead of registering a second one."""
    import attrs

    from lamina.interfaces.model_registry import ModelVersion

    original = pg_store._call
    dropped: list[int] = []

    def drop_after_commit(what, operation, **kw):
        def once(conn, attempt):
            result = operation(conn, attempt)
            if not dropped:  # committed; now the session dies before we hear back
                dropped.append(int(conn.info.backend_pid))
                with pg_server.connect(pg_database) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (dropped[0],))
                conn.execute("SELECT 1")  # the lost connection surfaces here
            return result
        return original(what, once, **kw)

    version = ModelVersion(name="churn", version=0, ref="churn/r1/train", run_id="r1",
                           namespace="user:ada", registered_by="ada",
                           registered_at="2026-01-01T00:00:00+00:00")
    pg_store._call = drop_after_commit
    try:
        first = pg_store.register_model_version(version)
    finally:
        pg_store._call = original
    assert dropped and backend_pid(pg_store) != dropped[0]  # really reconnected and retried
    assert first.version == 1
    assert [v.version for v in pg_store.list_model_versions("user:ada", "churn")] == [1]
    # a new registration of the same model (another time) is a new version
    again = pg_store.register_model_version(
        attrs.evolve(version, registered_at="2026-01-02T00:00:00+00:00"))
    assert again.version == 2


def test_a_server_that_stays_away_fails_clearly_and_fast_afterwards(throwaway_server):
    with throwaway_server.connect() as conn:
        conn.execute("CREATE DATABASE gone")
    url = throwaway_server.url("gone")
    store = PostgresMetadataStore(url, stack="team", retries=2, retry_wait=0.1)
    run = make_run()
    store.create_run(run)
    throwaway_server.pg_ctl("stop", "-m", "fast")
    try:
        with pytest.raises(BackendUnreachableError) as info:
            store.record_tasks([TaskRecord(run_id=run.run_id, step="raw", index=0,
                                           status="succeeded")])
        text = one_line(info.value)
        assert "stack 'team'" in text and f"127.0.0.1:{throwaway_server.port}/gone" in text
        assert "3 attempts" in text and f"lamina resume {run.run_id}" in text
        start = time.monotonic()
        with pytest.raises(BackendUnreachableError):  # right after: no second back-off
            store.finish_run(run.run_id, status="failed", finished_at=time.time())
        assert time.monotonic() - start < 2
    finally:
        throwaway_server.pg_ctl("start")
    # the server is back: the same store object carries on
    store._gave_up_at = -1e9
    store.record_tasks([TaskRecord(run_id=run.run_id, step="raw", index=0, status="succeeded")])
    assert store.get_run(run.run_id).status == "running"
    store.close()


def test_a_restarted_server_is_waited_for(throwaway_server):
    with throwaway_server.connect() as conn:
        conn.execute("CREATE DATABASE restarted")
    store = PostgresMetadataStore(throwaway_server.url("restarted"), retries=6,
                                  retry_wait=0.2)
    run = make_run()
    store.create_run(run)
    throwaway_server.pg_ctl("restart", "-m", "fast")
    store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
    assert store.get_run(run.run_id).status == "succeeded"
    store.close()


# --- bad input: one line naming the stack, the server and the fix, never the password -----


def test_unreachable_server(tmp_path):
    store = PostgresMetadataStore("postgresql://alice@127.0.0.1:1/db", password="s3cr3t-pw",
                                  stack="team", connect_timeout=2)
    with pytest.raises(BackendUnreachableError) as info:
        store.check()
    text = one_line(info.value)
    assert "stack 'team'" in text and "postgresql://alice@127.0.0.1:1/db" in text
    assert "pg_isready" in text and "s3cr3t-pw" not in text
    with pytest.raises(BackendUnreachableError):
        store.list_runs()  # the first connection is not retried: it fails at once


def test_missing_database(pg_server):
    store = PostgresMetadataStore(pg_server.url("no_such_db_here"), stack="team")
    with pytest.raises(BackendUnreachableError, match="no_such_db_here") as info:
        store.check()
    text = one_line(info.value)
    assert "does not exist" in text and "createdb" in text


def test_malformed_url_names_the_fix():
    with pytest.raises(MetadataError, match="postgresql://USER@HOST") as info:
        PostgresMetadataStore("mysql://u:pw123@h/db", stack="team")
    assert "pw123" not in str(info.value)
    with pytest.raises(MetadataError, match="names no database"):
        PostgresMetadataStore("postgresql://u@h:5432", stack="team")


def test_wrong_and_missing_password(password_server):
    url = password_server.url("postgres")
    good = PostgresMetadataStore(url, password="right-horse-battery", stack="team")
    assert good.check().endswith(": 0 runs")
    good.close()
    wrong = PostgresMetadataStore(url, password="wrong-staple-9", stack="team")
    with pytest.raises(BackendUnreachableError) as info:
        wrong.check()
    text = one_line(info.value)
    assert "wrong password" in text and "PGPASSWORD" in text and "stack 'team'" in text
    assert "wrong-staple-9" not in text
    in_url = PostgresMetadataStore(url.replace("postgres@", "postgres:wrong-staple-9@"),
                                   stack="team")
    with pytest.raises(BackendUnreachableError) as info:
        in_url.check()
    assert "wrong-staple-9" not in str(info.value) and "wrong password" in str(info.value)
    none = PostgresMetadataStore(url, stack="team")
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    os.environ.pop("PGPASSWORD", None)
    try:
        with pytest.raises(BackendUnreachableError, match="password"):
            none.check()
    finally:
        os.environ.clear()
        os.environ.update(env)


def test_every_write_is_safe_to_repeat_after_a_commit_whose_answer_was_lost(pg_store,
                                                                              monkeypatch):
    """A retry after the server committed but the connection dropped before answering
    runs the same operation again: it must come out as if it ran once."""
    original = PostgresMetadataStore._call

    def twice(self, what, operation, **kwargs):
        original(self, what, operation, **kwargs)  # committed; the answer "was lost"
        return original(self, what, lambda conn, attempt: operation(conn, attempt + 1),
                        **kwargs)

    run = make_run(tags=("a",))
    monkeypatch.setattr(PostgresMetadataStore, "_call", twice)
    pg_store.create_run(run)
    pg_store.record_tasks([TaskRecord(run_id=run.run_id, step="raw", index=0,
                                      status="succeeded")])
    pg_store.add_tags(run.run_id, ["b"])
    pg_store.finish_run(run.run_id, status="succeeded", finished_at=run.started_at + 1)
    monkeypatch.undo()
    got = pg_store.get_run(run.run_id)
    assert (got.status, got.tags) == ("succeeded", ("a", "b"))
    assert len(pg_store.list_tasks(run.run_id)) == 1
    # ...but another run with the same id, or a second finish, is still refused
    with pytest.raises(MetadataError, match="already exists"):
        pg_store.create_run(make_run(run_id=run.run_id))
    with pytest.raises(MetadataError, match="immutable"):
        pg_store.finish_run(run.run_id, status="failed", finished_at=time.time())


def test_a_role_that_may_not_create_the_schema_is_told_who_can(pg_server, pg_database,
                                                               pg_schema):
    role = f"lamina_ro_{pg_schema}"
    with pg_server.connect(pg_database) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        store = PostgresMetadataStore(pg_server.url(pg_database, user=role), schema=pg_schema,
                                      stack="team")
        with pytest.raises(MetadataError) as info:
            store.list_runs()
        text = one_line(info.value)
        assert "cannot create or update the schema" in text and "permission denied" in text
        assert "lamina metadata migrate --stack team" in text
        PostgresMetadataStore(pg_server.url(pg_database), schema=pg_schema).migrate()
        with pg_server.connect(pg_database) as admin:  # the owner migrated and granted use
            admin.execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO "{role}"')
            admin.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{pg_schema}" '
                          f'TO "{role}"')
        run = make_run()
        store.create_run(run)  # a role that may only write records works on a ready schema
        assert store.get_run(run.run_id).run_id == run.run_id
        store.close()
    finally:
        with pg_server.connect(pg_database) as admin:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')

"""The store's schema, as numbered migrations.

Each entry brings a schema from version N-1 to N; ``{s}`` is the quoted PostgreSQL schema
the tables live in. Append a new entry, never edit one that has shipped: the table
``schema_version`` records which ones a database has (one row per migration applied, with
when and by whom), and a store refuses a database whose version is newer than the last
entry here.

Keys and names that are sorted (run ids, flows, steps, tags) use the ``"C"`` collation, so
"newest first" is the byte order of run ids on every server, as in the SQLite store, and
run-id prefixes are answered from the primary key's index.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema: runs, their tags, their tasks
        """CREATE TABLE IF NOT EXISTS {s}.runs (
            run_id TEXT COLLATE "C" PRIMARY KEY,
            flow TEXT COLLATE "C" NOT NULL,
            status TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            params JSON NOT NULL DEFAULT '{{}}',
            "user" TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            pid INTEGER NOT NULL DEFAULT 0,
            stack TEXT NOT NULL DEFAULT '',
            datastore_url TEXT NOT NULL DEFAULT '',
            flow_file TEXT NOT NULL DEFAULT '',
            code_hash TEXT NOT NULL DEFAULT '',
            code_files JSON NOT NULL DEFAULT '{{}}',
            step_code JSON NOT NULL DEFAULT '{{}}',
            python_version TEXT NOT NULL DEFAULT '',
            packages_key TEXT NOT NULL DEFAULT '',
            git_commit TEXT NOT NULL DEFAULT '',
            git_dirty BOOLEAN,
            resumed_from TEXT NOT NULL DEFAULT '',
            orchestrator TEXT NOT NULL DEFAULT '',
            orchestrator_run_id TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            steps JSON NOT NULL DEFAULT '[]',
            namespace TEXT COLLATE "C" NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_flow ON {s}.runs (flow, run_id)",
        "CREATE INDEX IF NOT EXISTS runs_by_namespace ON {s}.runs (namespace, flow, run_id)",
        """CREATE TABLE IF NOT EXISTS {s}.run_tags (
            run_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
            tag TEXT COLLATE "C" NOT NULL,
            added BIGINT GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (run_id, tag)
        )""",
        "CREATE INDEX IF NOT EXISTS run_tags_by_tag ON {s}.run_tags (tag, run_id)",
        """CREATE TABLE IF NOT EXISTS {s}.tasks (
            run_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
            step TEXT COLLATE "C" NOT NULL,
            "index" INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            output JSON,
            inputs JSON NOT NULL DEFAULT '{{}}',
            element TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            error_type TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            traceback TEXT NOT NULL DEFAULT '',
            exit_reason TEXT NOT NULL DEFAULT '',
            stdout_key TEXT NOT NULL DEFAULT '',
            stderr_key TEXT NOT NULL DEFAULT '',
            cache_key TEXT NOT NULL DEFAULT '',
            reused_from TEXT NOT NULL DEFAULT '',
            metrics JSON NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (run_id, step, "index")
        )""",
        "CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON {s}.tasks (cache_key) "
        "WHERE cache_key <> ''",
    ),
    (  # 2: teams: the namespace, project and branch of each run (lamina.namespaces)
        "ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS namespace TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS project TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS branch TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS production BOOLEAN NOT NULL DEFAULT FALSE",
        "CREATE INDEX IF NOT EXISTS runs_by_namespace ON {s}.runs (namespace, flow, run_id)",
    ),
    (  # 3: what each task read from data sources; the model registry
        "ALTER TABLE {s}.tasks ADD COLUMN IF NOT EXISTS data_inputs JSON NOT NULL DEFAULT '[]'",
        """CREATE TABLE IF NOT EXISTS {s}.model_versions (
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            version INTEGER NOT NULL,
            ref TEXT NOT NULL,
            run_id TEXT COLLATE "C" NOT NULL DEFAULT '',
            registered_by TEXT NOT NULL DEFAULT '',
            registered_at TEXT NOT NULL DEFAULT '',
            metadata JSON NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (namespace, name, version)
        )""",
        """CREATE TABLE IF NOT EXISTS {s}.model_alias_changes (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            alias TEXT COLLATE "C" NOT NULL,
            version INTEGER,
            previous INTEGER,
            "user" TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            forced BOOLEAN NOT NULL DEFAULT FALSE
        )""",
        "CREATE INDEX IF NOT EXISTS model_alias_changes_by_name "
        "ON {s}.model_alias_changes (namespace, name, alias, seq)",
    ),
    (  # 4: results of check suites run on registered versions (the registry's gates)
        """CREATE TABLE IF NOT EXISTS {s}.model_checks (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            version INTEGER NOT NULL,
            result JSON NOT NULL DEFAULT '{{}}'
        )""",
        "CREATE INDEX IF NOT EXISTS model_checks_by_version "
        "ON {s}.model_checks (namespace, name, version, seq)",
    ),
)

#: The version a database has once every migration above is applied.
SCHEMA_VERSION = len(MIGRATIONS)

#: The bookkeeping table, created before any migration runs.
VERSION_TABLE = """CREATE TABLE IF NOT EXISTS {s}.schema_version (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL,
    applied_by TEXT NOT NULL DEFAULT ''
)"""

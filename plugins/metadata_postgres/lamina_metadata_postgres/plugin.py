"""The ``postgres`` metadata component: options, registration and the ``lamina metadata``
commands.

This module is imported whenever lamina collects plugins (``lamina --help`` included), so
it holds only the options class and the command-line parsers; psycopg is imported by the
factory when a stack builds the store, and the commands import their work when they run.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from lamina.sdk import ComponentSpec, ConfigError, hookimpl


def _url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    from lamina_metadata_postgres.server import check_url

    check_url(value)


def _schema(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    from lamina_metadata_postgres.server import check_identifier

    check_identifier(value, "schema")


def _at_least(minimum: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum:g}, got {value!r}")

    return check


@attrs.frozen
class PostgresMetadataOptions:
    """Options of the ``postgres`` metadata store: one shared record of every run.

    :param url: ``postgresql://USER@HOST:5432/DATABASE``; libpq query parameters pass
        through (``?sslmode=require``). No password here: use ``password``, ``PGPASSWORD``
        or ``~/.pgpass``, or give the whole URL as ``"${DATABASE_URL}"``.
    :param password: the password when the server asks for one; write ``"${VAR}"`` (or
        put it in ``lamina.secrets.toml``). Never printed.
    :param schema: the PostgreSQL schema holding lamina's tables (created if missing).
    :param connect_timeout: seconds to wait for the server to answer a connection.
    :param retries: how many times an operation whose connection was lost (server
        restarted, session killed) is tried again, with back-off, before it fails.
    :param retry_wait: the first back-off in seconds (doubling, at most 4 s).
    :param auto_migrate: create or update the schema on first use; ``false`` leaves that
        to ``lamina metadata migrate`` (a team whose administrator migrates).
    """

    url: str = attrs.field(validator=_url)
    password: str | None = None
    schema: str = attrs.field(default="lamina", validator=_schema)
    connect_timeout: float = attrs.field(default=10.0, validator=_at_least(1))
    retries: int = attrs.field(default=5, validator=_at_least(0))
    retry_wait: float = attrs.field(default=0.5, validator=_at_least(0))
    auto_migrate: bool = True


def _literal_password(stack: Any) -> bool:
    """Whether the stack's metadata url holds a password written in clear in the config
    (a url that came from ``${VAR}`` or the secrets file is shown masked)."""
    try:
        for entry in stack.describe():
            if entry.get("layer") == "metadata":
                return entry["options"].get("url") != "****"
    except Exception:  # a stack built by hand: nothing to check
        return False
    return False


def _postgres_metadata(options: PostgresMetadataOptions, stack: Any) -> Any:
    from lamina_metadata_postgres.server import parse
    from lamina_metadata_postgres.store import PostgresMetadataStore

    name = getattr(stack, "name", "") or ""
    if parse(options.url).url_has_password and _literal_password(stack):
        raise ConfigError(
            f"stack {name!r}, metadata (postgres): the url holds a password written in the "
            "config file",
            hint='remove it from the url and write password = "${PGPASSWORD}" (or give the '
            'url as "${DATABASE_URL}", or put it in lamina.secrets.toml)',
        )
    return PostgresMetadataStore(
        options.url,
        password=options.password,
        schema=options.schema,
        stack=name,
        connect_timeout=options.connect_timeout,
        retries=options.retries,
        retry_wait=options.retry_wait,
        auto_migrate=options.auto_migrate,
    )


@hookimpl
def lamina_metadata_stores() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="metadata",
            name="postgres",
            config=PostgresMetadataOptions,
            factory=_postgres_metadata,
            description="one shared record of runs, tasks and tags in PostgreSQL (teams)",
            install_hint="pip install lamina-metadata-postgres",
        )
    ]


@hookimpl
def lamina_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metadata",
        help="manage the metadata store: migrate its schema, copy runs between stacks",
        description="Manage a stack's metadata store (added by lamina-metadata-postgres).",
    )
    commands = parser.add_subparsers(dest="metadata_command", metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate",
        help="create or update the PostgreSQL schema of the stack's metadata store",
        description="Create the tables of the stack's postgres metadata store, or bring "
        "them up to this plugin's schema version (safe to run again; one transaction).",
    )
    migrate.set_defaults(handler=_migrate_command)
    copy = commands.add_parser(
        "copy",
        help="copy runs from one stack's metadata store into another's (ids kept)",
        description="Copy every run, its tasks and tags from the metadata store of one "
        "stack into another's, keeping run ids: a laptop's SQLite history into the team's "
        "PostgreSQL. Idempotent: runs already there are completed or skipped.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="STACK",
                      help="the stack whose runs are copied")
    copy.add_argument("--to", dest="target", required=True, metavar="STACK",
                      help="the stack that receives them")
    copy.add_argument("--flow", metavar="NAME", default=None,
                      help="copy only the runs of this flow")
    copy.set_defaults(handler=_copy_command)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _load(name: str | None, args: argparse.Namespace) -> Any:
    from lamina.sdk import Stack

    return Stack.load(name, config_file=getattr(args, "config", None))


def _migrate_command(args: argparse.Namespace) -> int:
    from lamina_metadata_postgres.store import PostgresMetadataStore

    stack = _load(getattr(args, "stack", None), args)
    store = stack.component("metadata")
    if not isinstance(store, PostgresMetadataStore):
        raise ConfigError(
            f"stack {stack.name!r} keeps its metadata in {stack.spec('metadata').name!r}, "
            "not postgres: nothing to migrate (the builtin store migrates itself)",
            hint="name a stack whose metadata is { plugin = \"postgres\", ... } with --stack",
        )
    before, after = store.migrate()
    if before == after:
        print(f"{store.where}: schema up to date (version {after})")
    else:
        print(f"{store.where}: schema migrated from version {before} to {after}")
    return 0


def _copy_command(args: argparse.Namespace) -> int:
    from lamina_metadata_postgres.copy import copy_runs

    if args.source == args.target:
        raise ConfigError(
            f"--from and --to both name stack {args.source!r}",
            hint="copy from one stack into another: lamina metadata copy --from local --to team",
        )
    source = _load(args.source, args)
    target = _load(args.target, args)
    report = copy_runs(source.component("metadata"), target.component("metadata"),
                       flow=args.flow)
    print(f"copied from stack {source.name!r} to {target.name!r}: {report}")
    return 0

"""The stack as a run records it, so that a task anywhere rebuilds the same stack.

When a run starts, its manifest (in the datastore) records the stack: per layer the
component's name, the distribution serving it and its options *as written in the config*
(``"${VAR}"`` references kept as references, never their values), plus the raw
``[plugins.NAME]`` tables. ``python -m lamina task`` rebuilds every component from that
record (:meth:`lamina.stack.Stack.from_manifest`), re-reading each ``${VAR}`` from the
task's own environment; it never guesses a component from a URL.

Secrets are never stored. An option whose value came from ``lamina.secrets.toml``, or
whose name looks like a credential and holds a literal value, is left out and a marker
says so; a task that builds that component fails with a message naming the option and
the fix (write ``option = "${VAR}"`` in the config and set ``VAR`` where tasks run).

The datastore's own record also travels with the task command (``--datastore-spec``),
because the manifest is read through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.config.secrets import BadReference, MissingVariable, expand, has_reference, looks_secret
from lamina.errors import ConfigError

if TYPE_CHECKING:
    from lamina.stack import Stack

__all__ = [
    "FROM_SECRETS_FILE",
    "LITERAL_SECRET",
    "RECORD_VERSION",
    "datastore_spec",
    "parse_datastore_spec",
    "plugin_tables",
    "project_root",
    "record_stack",
    "recorded_options",
]

#: Version of the recorded shape (``manifest["stack"]["version"]``).
RECORD_VERSION = 1
#: Why an option is missing from a record, by marker.
FROM_SECRETS_FILE = "secrets-file"
LITERAL_SECRET = "literal-secret"
_WHY = {
    FROM_SECRETS_FILE: "its value came from lamina.secrets.toml",
    LITERAL_SECRET: "it holds a literal credential",
}


def _secret_paths(stack: Stack) -> frozenset[tuple[str, ...]]:
    return stack.config.secret_keys


def _from_secrets_file(path: tuple[str, ...], secret_keys: frozenset[tuple[str, ...]]) -> bool:
    n = len(path)
    return any(key[:n] == path for key in secret_keys)


def _split(
    raw: Mapping[str, Any], keys: tuple[str, ...], secret_keys: frozenset[tuple[str, ...]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(options safe to record, {left-out option: why})."""
    kept: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for key, value in raw.items():
        if _from_secrets_file((*keys, key), secret_keys):
            missing[key] = FROM_SECRETS_FILE
        elif (looks_secret(key) and isinstance(value, str) and value
              and not has_reference(value)):
            missing[key] = LITERAL_SECRET
        else:
            kept[key] = value
    return kept, missing


def _is_local_path(url: Any) -> bool:
    """Whether a raw datastore ``url`` is unset or a local path (relative paths resolve
    against the project root, which a task elsewhere does not have)."""
    if url is None:
        return True
    if not isinstance(url, str) or has_reference(url):
        return False
    return "://" not in url or url.split("://", 1)[0].lower() in ("file", "local")


def _has_url_option(config: type) -> bool:
    return attrs.has(config) and "url" in attrs.fields_dict(config)


def record_stack(stack: Stack) -> dict[str, Any]:
    """The stack as a run records it (JSON-safe): per layer ``component``,
    ``distribution``, ``version``, ``origin`` (``config`` or ``default``: a layer the
    config does not set is its default component with the component's default options),
    the raw ``options`` and the ``missing`` secret options; the raw ``compute_overrides``
    and ``[plugins.NAME]`` tables; the project root; the branch the stack acts for
    (:func:`lamina.namespaces.branch_to_dict`), so a task rebuilds ``stack.branch``.

    A datastore whose ``url`` is a local path (or unset) records the URL the datastore
    reports (an absolute path), so a task started in any folder finds the same folder;
    any other URL, and a ``${VAR}`` reference, is recorded as written.
    """
    from lamina.interfaces.component import LAYERS
    from lamina.namespaces import branch_to_dict

    secret_keys = _secret_paths(stack)
    written = stack.stack_config.components if stack.stack_config else {}
    components: dict[str, Any] = {}
    for layer in LAYERS:
        if not stack.has(layer):
            continue
        spec = stack.spec(layer)
        comp = written.get(layer)
        if comp is not None:
            options, missing = _split(comp.options, comp.keys, secret_keys)
            origin = "config"
        else:
            options, missing, origin = {}, {}, "default"
        if (layer == "datastore" and _has_url_option(spec.config) and "url" not in missing
                and _is_local_path(options.get("url"))):
            options["url"] = stack.datastore.url
        entry: dict[str, Any] = {
            "component": spec.name,
            "distribution": spec.distribution,
            "version": spec.distribution_version,
            "origin": origin,
            "options": options,
        }
        if missing:
            entry["missing"] = missing
        components[layer] = entry
    overrides: dict[str, Any] = {}
    if stack.stack_config is not None:
        for name, table in stack.stack_config.compute_overrides.items():
            keys = ("stacks", stack.name, "compute_overrides", name)
            options, missing = _split(table, keys, secret_keys)
            overrides[name] = {"options": options, **({"missing": missing} if missing else {})}
    data: dict[str, Any] = {}
    for name, comp in (stack.stack_config.data if stack.stack_config else {}).items():
        options, missing = _split(comp.options, comp.keys, secret_keys)
        for key, value in list(options.items()):
            if isinstance(value, str) and not has_reference(value) and _has_password(value):
                del options[key]
                missing[key] = LITERAL_SECRET
        data[name] = {"plugin": stack.data_source_spec(name).name, "options": options,
                      **({"missing": missing} if missing else {})}
    plugins: dict[str, Any] = {}
    for name, table in stack.config.plugins.items():
        options, missing = _split(table, ("plugins", name), secret_keys)
        plugins[name] = {"options": options, **({"missing": missing} if missing else {})}
    return json.loads(json.dumps({
        "version": RECORD_VERSION,
        "name": stack.name,
        "project_root": str(stack.project_root),
        "components": components,
        "compute_overrides": overrides,
        "data": data,
        "plugins": plugins,
        "branch": branch_to_dict(stack.branch),
    }, default=str))


def _has_password(value: str) -> bool:
    """Whether a URL carries a password (``scheme://user:password@host``)."""
    from lamina.interfaces.data_source import safe_url

    return "://" in value and safe_url(value) != value


def datastore_spec(record: Mapping[str, Any]) -> str:
    """The datastore's part of a stack record as compact JSON: what the task command
    carries (``--datastore-spec``) so a task can read the run's manifest through the
    stack's own datastore component. Holds no secret value (references only)."""
    entry = record["components"]["datastore"]
    spec = {"component": entry["component"], "options": entry["options"]}
    if entry.get("missing"):
        spec["missing"] = entry["missing"]
    return json.dumps(spec, separators=(",", ":"), sort_keys=True)


def parse_datastore_spec(text: str) -> dict[str, Any]:
    """A ``--datastore-spec`` value back as a stack record holding only the datastore.

    :raises lamina.errors.ConfigError: not the JSON object :func:`datastore_spec` writes.
    """
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--datastore-spec is not JSON ({exc.msg} at character {exc.pos}): {text[:80]!r}",
            hint='pass the value the launcher wrote, e.g. {"component":"file","options":'
            '{"url":"/data/lamina"}} (quote it for the shell)',
        ) from None
    if (not isinstance(spec, dict) or not isinstance(spec.get("component"), str)
            or not isinstance(spec.get("options", {}), dict)):
        raise ConfigError(
            f"--datastore-spec must be a JSON object with 'component' and 'options', got "
            f"{text[:80]!r}",
            hint='e.g. {"component":"file","options":{"url":"/data/lamina"}}',
        )
    entry = {"component": spec["component"], "options": spec.get("options", {}),
             "origin": "spec"}
    if spec.get("missing"):
        entry["missing"] = dict(spec["missing"])
    return {"version": RECORD_VERSION, "components": {"datastore": entry}}


def recorded_options(
    stack_name: str, what: str, entry: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    """A recorded component's options with every ``${VAR}`` read from ``env``.

    :param what: the component, for messages (``datastore (plugin 'file')``).
    :raises lamina.errors.ConfigError: an option was left out of the record (a secret) or
        uses a variable that is not set here; the message names the option and the fix.
    """
    missing = entry.get("missing") or {}
    if missing:
        key, why = next(iter(sorted(missing.items())))
        others = [k for k in sorted(missing) if k != key]
        raise ConfigError(
            f"the run's stack {stack_name!r}, {what}: option {key!r} was not recorded with "
            f"the run ({_WHY.get(why, why)}; a run never stores a secret), so this task "
            f"cannot rebuild the component"
            + (f" (also missing: {', '.join(repr(k) for k in others)})" if others else ""),
            hint=f'write {key} = "${{VAR}}" in the stack\'s config (the run records the '
            f"reference, not the value) and set VAR in the environment where tasks run",
        )
    out: dict[str, Any] = {}
    for key, value in (entry.get("options") or {}).items():
        try:
            out[key] = expand(value, env)
        except BadReference as bad:
            raise ConfigError(
                f"the run's stack {stack_name!r}, {what}: option {key!r} holds {bad.text!r}, "
                "which is not a ${VAR} reference",
                hint="write ${VAR} in the stack's config and start a new run",
            ) from None
        except MissingVariable as mv:
            raise ConfigError(
                f"the run's stack {stack_name!r}, {what}: option {key!r} uses the "
                f"environment variable {mv.name} (${{{mv.name}}}), which is not set where "
                f"this task runs",
                hint=f"set {mv.name} in the task's environment (for a remote backend: the "
                f"job's environment or secret references)",
            ) from None
    return out


def plugin_tables(record: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The recorded ``[plugins.NAME]`` tables (raw) and a warning per left-out secret."""
    tables: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for name, entry in (record.get("plugins") or {}).items():
        tables[name] = dict(entry.get("options") or {})
        for key, why in sorted((entry.get("missing") or {}).items()):
            warnings.append(
                f"[plugins.{name}] option {key!r} was not recorded with the run "
                f"({_WHY.get(why, why)}); the plugin is configured without it here. Write "
                f'{key} = "${{VAR}}" in the config and set VAR where tasks run'
            )
    return tables, warnings


def project_root(record: Mapping[str, Any], cwd: str | Path | None) -> Path:
    """Where relative paths of a rebuilt stack point: ``cwd`` when given, else the
    recorded project root when it exists on this machine, else the working directory."""
    if cwd is not None:
        return Path(cwd).resolve()
    recorded = record.get("project_root")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return Path.cwd().resolve()

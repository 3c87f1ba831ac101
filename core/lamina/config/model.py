"""The shape of a lamina config: top-level keys, named stacks, one component per layer.

Parsing here checks the *shape* only (which keys exist, what kind of value each is). A
component's own options are checked against its attrs class when the stack is resolved
(:mod:`lamina.stack`), because only then do we know which plugin serves it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from lamina.config.files import ConfigSource, read_secrets_file
from lamina.config.paths import is_windows_path
from lamina.config.retention import RetentionOptions
from lamina.config.secrets import deep_merge
from lamina.errors import ConfigError, ConfigWarning, LaminaError
from lamina.interfaces.component import LAYERS
from lamina.kernel.suggest import did_you_mean
from lamina.namespaces import check_name

TOP_LEVEL_KEYS = ("project", "default_stack", "required_plugins", "disable_plugins", "stacks", "plugins")
STACK_EXTRA_KEYS = (
    "compute_overrides", "description", "trusted_namespaces", "allow_pickle", "data", "retention",
)


@attrs.frozen
class ComponentConfig:
    """One layer of a stack as written: ``plugin`` (None: choose by the URL's scheme),
    the raw option table (``plugin`` removed) and where it is written."""

    layer: str
    plugin: str | None
    options: dict[str, Any]
    keys: tuple[str, ...]  # key path in the lamina table, e.g. ("stacks", "prod", "compute")
    url: str | None = None


@attrs.frozen
class StackConfig:
    """A named stack of the config file."""

    name: str
    components: dict[str, ComponentConfig]
    compute_overrides: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    description: str = ""
    #: Named data sources (``[stacks.S.data.NAME]``): ``layer`` is ``"data"``, ``plugin``
    #: the data-source kind (None: chosen by the ``url``'s scheme).
    data: dict[str, ComponentConfig] = attrs.field(factory=dict)
    #: Namespaces whose pickled values load without consent, beyond the user's own and
    #: the project's (fnmatch patterns; lamina.datastore.trust).
    trusted_namespaces: tuple[str, ...] = ()
    #: "trusted" (default), "always" or "never": which pickles load without consent.
    allow_pickle: str = "trusted"
    #: What ``lamina gc`` keeps (lamina.config.retention; docs/retention.md).
    retention: RetentionOptions = attrs.field(factory=RetentionOptions)


@attrs.frozen
class ProjectConfig:
    """A parsed config file (or the empty config when there is none)."""

    source: ConfigSource | None = None
    project: str | None = None  # teams: runs and deployments live on branches of it
    default_stack: str | None = None
    required_plugins: tuple[str, ...] = ()
    disable_plugins: tuple[str, ...] = ()
    stacks: dict[str, StackConfig] = attrs.field(factory=dict)
    plugins: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: key paths whose value came from lamina.secrets.toml (masked when printed).
    secret_keys: frozenset[tuple[str, ...]] = frozenset()
    secrets_file: Path | None = None
    #: lamina.secrets.toml, when it was read: where a key written only there is blamed.
    secrets_source: ConfigSource | None = None

    @property
    def path(self) -> Path | None:
        return self.source.path if self.source else None

    def where(self, keys: tuple[str, ...] = ()) -> str:
        """``lamina.toml:7`` for a key path, for error messages; ``lamina.secrets.toml:3``
        for a key written only in the secrets file."""
        if self.source is None:
            return "(no config file)"
        if (keys and self.secrets_source is not None and not _written(self.source.data, keys)
                and _written(self.secrets_source.data, keys)):
            return self.secrets_source.where(keys)
        return self.source.where(keys)

    def error(
        self, keys: tuple[str, ...], message: str, *, hint: str | None = None,
        cls: type[LaminaError] = ConfigError,
    ) -> LaminaError:
        return cls(f"{self.where(keys)}: {message}", hint=hint)


def _written(data: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """Whether the key path is written in a file's lamina table."""
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _looks_like_path(value: str) -> bool:
    """A datastore written as a bare path: ``./store``, ``../x``, ``/data/x``, ``~/x``,
    ``store/sub`` or ``${VAR}`` (a component's name never holds ``/`` or ``$``)."""
    return (value.startswith((".", "~", "/", "\\")) or "/" in value or "\\" in value
            or "${" in value)


def _unknown_stacks(source: ConfigSource, secrets: ConfigSource) -> dict[str, Any]:
    """The secrets file's data without ``[stacks.NAME]`` tables for stacks the config does
    not define (each one a warning naming it): a stray table must not break every stack."""
    stacks = secrets.data.get("stacks")
    known = source.data.get("stacks")
    if not isinstance(stacks, dict):
        return secrets.data
    known = known if isinstance(known, dict) else {}
    stray = [name for name in stacks if name not in known]
    for name in stray:
        warnings.warn(
            f"{secrets.where(('stacks', name))}: [stacks.{name}] is not a stack of "
            f"{source.display}, so it is ignored (stacks there: "
            f"{', '.join(known) or 'none'}); rename it or remove it",
            ConfigWarning, stacklevel=4,
        )
    if not stray:
        return secrets.data
    return {**secrets.data, "stacks": {k: v for k, v in stacks.items() if k in known}}


def _kind(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)


def _string_list(cfg: ProjectConfig, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise cfg.error(
            (key,),
            f"{key} must be an array of strings, got {_kind(value)}",
            hint=f'{key} = ["name", ...]',
        )
    return tuple(value)


def _component(
    cfg: ProjectConfig, stack: str, layer: str, value: Any
) -> ComponentConfig:
    keys = ("stacks", stack, layer)
    if isinstance(value, str):
        if "://" in value or (layer == "datastore" and (
                is_windows_path(value) or _looks_like_path(value))):
            if layer != "datastore":
                raise cfg.error(
                    keys,
                    f"stack {stack!r}, {layer}: a URL ({value!r}) only chooses a datastore",
                    hint=f'write {layer} = "NAME" or {layer} = {{ plugin = "NAME", ... }}',
                )
            return ComponentConfig(layer, None, {"url": value}, keys, url=value)
        if not value:
            raise cfg.error(keys, f"stack {stack!r}, {layer}: empty component name")
        return ComponentConfig(layer, value, {}, keys)
    if isinstance(value, dict):
        options = dict(value)
        plugin = options.pop("plugin", None)
        url = options.get("url") if isinstance(options.get("url"), str) else None
        if plugin is None and not (layer == "datastore" and url):
            raise cfg.error(
                keys,
                f"stack {stack!r}, {layer}: no 'plugin' key says which component to use",
                hint=f'{layer} = {{ plugin = "NAME", ... }}',
            )
        if plugin is not None and not isinstance(plugin, str):
            raise cfg.error(
                (*keys, "plugin"),
                f"stack {stack!r}, {layer}: 'plugin' must be a string, got {_kind(plugin)}",
            )
        return ComponentConfig(layer, plugin, options, keys, url=url)
    raise cfg.error(
        keys,
        f"stack {stack!r}, {layer}: must be a component name, a URL or a table, "
        f"got {_kind(value)}",
        hint=f'{layer} = "NAME" or {layer} = {{ plugin = "NAME", option = ... }}',
    )


def _data_sources(cfg: ProjectConfig, stack: str, value: Any) -> dict[str, ComponentConfig]:
    """``[stacks.S.data.NAME]`` tables: each names its plugin or a URL whose scheme picks
    one; the options are checked against the plugin's class when the stack is loaded."""
    keys = ("stacks", stack, "data")
    example = f'[stacks.{stack}.data.warehouse]\nplugin = "postgres"\nurl = "postgresql://..."'
    if not isinstance(value, dict):
        raise cfg.error(keys, f"stack {stack!r}: data must hold one [stacks.{stack}.data.NAME] "
                        f"table per source, got {_kind(value)}", hint=example)
    out: dict[str, ComponentConfig] = {}
    for source, table in value.items():
        where = (*keys, source)
        if not isinstance(table, dict):
            raise cfg.error(where, f"stack {stack!r}, data source {source!r} must be a table, "
                            f"got {_kind(table)}", hint=example)
        options = dict(table)
        plugin = options.pop("plugin", None)
        url = options.get("url") if isinstance(options.get("url"), str) else None
        if plugin is None and url is None:
            raise cfg.error(where, f"stack {stack!r}, data source {source!r}: no 'plugin' key "
                            "says which kind of source it is", hint=example)
        if plugin is not None and (not isinstance(plugin, str) or not plugin):
            raise cfg.error((*where, "plugin"), f"stack {stack!r}, data source {source!r}: "
                            f"'plugin' must be a non-empty string, got {_kind(plugin)}")
        out[source] = ComponentConfig("data", plugin, options, where, url=url)
    return out


def _stack(cfg: ProjectConfig, name: str, table: Any) -> StackConfig:
    if not isinstance(table, dict):
        raise cfg.error(("stacks", name), f"stack {name!r} must be a table, got {_kind(table)}")
    components: dict[str, ComponentConfig] = {}
    overrides: dict[str, dict[str, Any]] = {}
    data: dict[str, ComponentConfig] = {}
    retention = RetentionOptions()
    allowed = (*LAYERS, *STACK_EXTRA_KEYS)
    for key, value in table.items():
        if key in LAYERS:
            components[key] = _component(cfg, name, key, value)
        elif key == "compute_overrides":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise cfg.error(
                    ("stacks", name, key),
                    f"stack {name!r}: compute_overrides must hold one table per compute "
                    "component",
                    hint=f"[stacks.{name}.compute_overrides.k8s]\nnamespace = \"ml\"",
                )
            overrides = {k: dict(v) for k, v in value.items()}
        elif key == "data":
            data = _data_sources(cfg, name, value)
        elif key == "description":
            if not isinstance(value, str):
                raise cfg.error(("stacks", name, key), "description must be a string")
        elif key == "trusted_namespaces":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise cfg.error(("stacks", name, key),
                                f"stack {name!r}: trusted_namespaces must be an array of "
                                f"namespace patterns, got {_kind(value)}",
                                hint='trusted_namespaces = ["user:alice", "project:churn/*"]')
        elif key == "retention":
            retention = _retention(cfg, name, value)
        elif key == "allow_pickle":
            if value not in ("trusted", "always", "never"):
                raise cfg.error(("stacks", name, key),
                                f"stack {name!r}: allow_pickle must be \"trusted\", "
                                f"\"always\" or \"never\", got {value!r}",
                                hint='allow_pickle = "trusted" (pickles of trusted namespaces '
                                "only; see docs/security.md)")
        else:
            raise cfg.error(
                ("stacks", name, key),
                f"stack {name!r}: unknown key {key!r}{did_you_mean(key, allowed)}. "
                f"A stack has one key per layer: {', '.join(LAYERS)} (and compute_overrides, "
                "data)",
                hint="correct the layer name or remove the key",
            )
    return StackConfig(
        name=name,
        components=components,
        compute_overrides=overrides,
        description=str(table.get("description", "")),
        data=data,
        trusted_namespaces=tuple(table.get("trusted_namespaces", ())),
        allow_pickle=str(table.get("allow_pickle", "trusted")),
        retention=retention,
    )


def _retention(cfg: ProjectConfig, stack: str, value: Any) -> RetentionOptions:
    """The stack's ``retention`` table, strictly checked (unknown keys, types, durations)."""
    from lamina.config.options import OptionError, build_options

    keys = ("stacks", stack, "retention")
    if not isinstance(value, dict):
        raise cfg.error(keys, f"stack {stack!r}: retention must be a table, got {_kind(value)}",
                        hint=f"[stacks.{stack}.retention]\nkeep_last = 10")
    try:
        options: RetentionOptions = build_options(RetentionOptions, value)
    except OptionError as exc:
        where = (*keys, exc.key) if exc.key else keys
        raise cfg.error(where, f"stack {stack!r}, retention: {exc.message}",
                        hint=exc.hint) from None
    return options


def parse_config(source: ConfigSource | None, *, secrets: bool = True) -> ProjectConfig:
    """Check a config file's shape and return its model; ``lamina.secrets.toml`` beside
    it is merged over it (``secrets=False`` to skip)."""
    if source is None:
        return ProjectConfig()
    data = source.data
    secret_keys: set[tuple[str, ...]] = set()
    secrets_file = None
    if secrets:
        sec = read_secrets_file(source.path)
        if sec is not None:
            data = deep_merge(dict(data), _unknown_stacks(source, sec), on_value=secret_keys.add)
            secrets_file = sec.path
    else:
        sec = None
    cfg = ProjectConfig(source=source, secret_keys=frozenset(secret_keys), secrets_source=sec)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise cfg.error(
                (key,),
                f"unknown key {key!r}{did_you_mean(key, TOP_LEVEL_KEYS)}. "
                f"Known keys: {', '.join(TOP_LEVEL_KEYS)}",
                hint="correct or remove the key; stacks go under [stacks.NAME]",
            )
    default = data.get("default_stack")
    if default is not None and not isinstance(default, str):
        raise cfg.error(("default_stack",), f"default_stack must be a string, got {_kind(default)}")
    project = data.get("project")
    if project is not None:
        if not isinstance(project, str):
            raise cfg.error(("project",), f"project must be a string, got {_kind(project)}")
        try:
            check_name(project, "project")
        except LaminaError as err:
            raise cfg.error(("project",), err.message, hint=err.hint) from None
    stacks_raw = data.get("stacks", {})
    if not isinstance(stacks_raw, dict):
        raise cfg.error(("stacks",), "stacks must be a table of [stacks.NAME] tables")
    plugins_raw = data.get("plugins", {})
    if not isinstance(plugins_raw, dict) or not all(
        isinstance(v, dict) for v in plugins_raw.values()
    ):
        raise cfg.error(
            ("plugins",), "plugins must hold one [plugins.NAME] table per plugin",
            hint='[plugins.audit]\npath = "audit.jsonl"',
        )
    stacks = {name: _stack(cfg, name, table) for name, table in stacks_raw.items()}
    return attrs.evolve(
        cfg,
        project=project,
        default_stack=default,
        required_plugins=_string_list(cfg, data, "required_plugins"),
        disable_plugins=_string_list(cfg, data, "disable_plugins"),
        stacks=stacks,
        plugins={k: dict(v) for k, v in plugins_raw.items()},
        secrets_file=secrets_file,
    )

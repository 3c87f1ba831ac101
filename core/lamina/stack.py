"""A stack: one component per layer, chosen in the config file, built when first used.

::

    from lamina import load_stack

    stack = load_stack("prod")          # or --stack / LAMINA_STACK / default_stack
    stack.describe()                    # what serves each layer, options (secrets masked)
    stack.check()                       # ask each component to reach its backend
    stack.datastore                     # built on first use, once

Loading a stack validates every component's options against the component's attrs class
and fails early with the file, the line, the stack, the key and what was expected; no
component code runs until a component is used. Everything lives on the :class:`Stack`
object, so two stacks in one process share nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.config import ProjectConfig, StackConfig, load_config
from lamina.config.locate import find_project_root
from lamina.config.model import ComponentConfig
from lamina.config.options import OptionError, build_options, options_to_dict
from lamina.config.paths import file_url_to_path, is_absolute_path, local_path, split_scheme
from lamina.config.secrets import (
    LOG_REDACTOR,
    MASK,
    BadReference,
    MissingVariable,
    Redactor,
    expand,
    has_reference,
    looks_secret,
    references,
)
from lamina.errors import (
    BrokenPluginWarning,
    ConfigError,
    DataSourceError,
    LaminaError,
    MissingRequiredPluginError,
    PluginError,
    StackNotFoundError,
)
from lamina.interfaces.component import LAYERS, ComponentSpec
from lamina.interfaces.data_source import DataSourceSpec, safe_url
from lamina.kernel.distributions import normalize_name
from lamina.kernel.pluginmanager import PluginManager
from lamina.kernel.suggest import did_you_mean
from lamina.namespaces import Branch, resolve_branch
from lamina.versioning.environment import current_user

if TYPE_CHECKING:
    import pluggy

    from lamina.config.retention import RetentionOptions
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.trust import TrustPolicy

#: Environment variable naming the stack to use (``--stack`` wins over it).
STACK_ENV = "LAMINA_STACK"
#: Name of the embedded default stack, used when the config defines none.
DEFAULT_STACK = "default"
#: The embedded default: the component each core layer uses when a stack omits it.
DEFAULT_COMPONENTS: dict[str, str] = {
    "datastore": "file",
    "compute": "local",
    "orchestrator": "local",
    "metadata": "sqlite",
}
log = logging.getLogger(__name__)
_NO_CONFIG = (
    "no config file was found (looked for lamina.toml, or [tool.lamina] in pyproject.toml, "
    "from the working directory upwards)"
)


@attrs.frozen
class ResolvedComponent:
    """One layer of a resolved stack: the component, its validated options and where they
    came from (``config``, ``default`` or ``url``)."""

    layer: str
    spec: ComponentSpec
    options: Any
    origin: str
    keys: tuple[str, ...] = ()
    secret_options: frozenset[str] = frozenset()


class Stack:
    """The resolved stack: which component serves each layer, with validated options.

    Build one with :meth:`Stack.load` (or :func:`load_stack`). Components are created
    lazily, once, by their plugin's factory; call :meth:`close` (or use ``with``) to
    release them.
    """

    def __init__(
        self,
        *,
        name: str,
        plugins: PluginManager,
        project_root: Path,
        config: ProjectConfig | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.plugins = plugins
        self.hook: pluggy.HookRelay = plugins.hook
        self.config = config or ProjectConfig()
        self.config_file: Path | None = self.config.path
        self.project_root = project_root
        self.stack_config: StackConfig | None = None
        self._env = dict(os.environ if env is None else env)
        self._resolved: dict[str, ResolvedComponent] = {}
        self._built: dict[str, Any] = {}
        self._compute_overrides: dict[str, Any] = {}  # name -> validated options
        self._compute_built: dict[str, Any] = {}
        self._problems: list[str] = []
        #: data sources by name: as written (or recorded), validated, built
        self._data_config: dict[str, ComponentConfig] = {}
        self._data_recorded: dict[str, Mapping[str, Any]] = {}
        self._data_resolved: dict[str, tuple[DataSourceSpec, Any]] = {}
        self._data_built: dict[str, Any] = {}
        self._artifacts: Any = None
        self._plugin_options: dict[str, Any] = {}
        self._plugin_state: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._redactor = Redactor()
        self._remember_secret_file_values()
        #: The branch this stack acts for (lamina.namespaces.Branch): the user's own
        #: branch of the config's project by default; the CLI's --branch/--production
        #: (and a Flow's project) replace it. Every layer that names what it deploys or
        #: writes reads it (Branch.qualify).
        self.branch: Branch = resolve_branch(user=current_user(), project=self.config.project)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        name: str | None = None,
        *,
        cwd: str | Path | None = None,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        plugins: PluginManager | None = None,
    ) -> Stack:
        """Find the config, choose the stack and validate it (builds no component).

        :param name: the stack; else ``LAMINA_STACK``, else the config's
            ``default_stack``, else the stack named ``default`` or the only one, else the
            embedded default stack.
        :param cwd: where to look for the config (default: the working directory).
        :param config_file: an explicit config file instead of searching.
        :param env: environment for ``LAMINA_STACK`` and ``${VAR}`` (default os.environ).
        :param plugins: a plugin manager to reuse (default: a new one honouring the
            config's ``disable_plugins``).
        :raises lamina.errors.ConfigError: (and its subclasses) for any config problem.
        :raises lamina.errors.PluginError: a component's plugin is absent, broken, or
            required and missing.
        """
        env = os.environ if env is None else env
        base = Path(cwd) if cwd is not None else Path.cwd()
        cfg = load_config(cwd=base, config_file=config_file, env=env)
        if plugins is None:
            plugins = PluginManager(disabled=cfg.disable_plugins)
        _check_required(cfg)
        stack_name, stack_cfg = choose_stack(cfg, name, env)
        root = cfg.path.parent if cfg.path else find_project_root(base)
        stack = cls(name=stack_name, plugins=plugins, project_root=root, config=cfg, env=env)
        stack.stack_config = stack_cfg
        stack._resolve(stack_cfg)
        stack._resolve_data(stack_cfg)
        stack._configure_plugins()
        log.info(
            "stack loaded: %s (config %s; %s)",
            stack.name,
            cfg.path or "none",
            ", ".join(f"{r.layer}={r.spec.name}" for r in stack._resolved.values()),
        )
        return stack

    @classmethod
    def for_datastore_url(cls, url: str, **kw: Any) -> Stack:
        """A stack whose datastore is the component serving ``url``'s scheme; every other
        layer is the default. What a remote task process (``python -m lamina task
        --datastore URL``) uses: it needs no config file."""
        env = kw.pop("env", None)
        env = os.environ if env is None else env
        plugins = kw.pop("plugins", None) or PluginManager()
        cwd = kw.pop("cwd", None)
        name = kw.pop("name", DEFAULT_STACK)
        if kw:
            raise TypeError(f"unexpected arguments: {', '.join(kw)}")
        root = (Path(cwd) if cwd is not None else Path.cwd()).resolve()
        stack = cls(name=name, plugins=plugins, project_root=root, env=env)
        spec = plugins.find_datastore_for_url(url)
        values = stack._expand({"url": url}, (), f"datastore {url!r}")
        try:
            options = build_options(spec.config, values, secret=("url",) if values["url"] != url
                                    else ())
        except OptionError as exc:
            raise ConfigError(
                f"datastore {url!r} (plugin {spec.name!r}): {exc.message}", hint=exc.hint
            ) from None
        stack._resolved["datastore"] = ResolvedComponent("datastore", spec, options, "url")
        stack._resolve(None)
        stack._configure_plugins()
        return stack

    def _where(self, keys: tuple[str, ...]) -> str:
        return self.config.where(keys)

    def _located(self, exc: LaminaError, keys: tuple[str, ...], what: str) -> LaminaError:
        """The same error, prefixed with where in the config it comes from."""
        message = f"{self._where(keys)}: {what}: {exc.message}"
        try:
            new = type(exc)(message, hint=exc.hint)
        except TypeError:  # a subclass with required arguments of its own
            new = ConfigError(message, hint=exc.hint)
        new.__cause__ = exc
        return new

    def redact(self, text: str) -> str:
        """``text`` with every value this stack read from ``${VAR}`` written back as
        ``${VAR}``, and every value from ``lamina.secrets.toml`` (or a literal credential)
        as ``****``: what lamina applies before it stores or prints text holding an
        option's value (a datastore URL in a run record or a DAG file, an error)."""
        return self._redactor(text)

    def _remember(self, value: Any, template: str) -> None:
        self._redactor.add(value, template)
        LOG_REDACTOR.add(value, template)

    def _remember_secret_file_values(self) -> None:
        source = self.config.secrets_source
        for keys in self.config.secret_keys:
            node: Any = source.data if source is not None else {}
            for key in keys:
                node = node.get(key) if isinstance(node, Mapping) else None
            self._remember(node, MASK)

    def _expand(self, raw: dict[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            for name in references(value):
                if name in self._env:
                    self._remember(self._env[name], f"${{{name}}}")
            if looks_secret(key) and isinstance(value, str) and not has_reference(value):
                self._remember(value, MASK)
            try:
                out[key] = expand(value, self._env)
            except BadReference as bad:
                raise ConfigError(
                    f"{self._where((*keys, key))}: {what}: option {key!r} holds {bad.text!r}, "
                    "which is not a ${VAR} reference (unclosed, or no variable name)",
                    hint="write ${VAR} or ${VAR:-default} with VAR made of letters, digits "
                    "and '_'",
                ) from None
            except MissingVariable as mv:
                raise ConfigError(
                    f"{self._where((*keys, key))}: {what}: option {key!r} uses the "
                    f"environment variable {mv.name} (${{{mv.name}}}), which is not set",
                    hint=(
                        f"export {mv.name}=... before running lamina, or put the value in "
                        f"lamina.secrets.toml beside the config file (keep it out of git)"
                    ),
                ) from None
        return out

    def _validate_options(
        self, spec: ComponentSpec | DataSourceSpec, raw: dict[str, Any], keys: tuple[str, ...],
        what: str,
    ) -> tuple[Any, frozenset[str]]:
        secret = frozenset(
            k for k, v in raw.items()
            if has_reference(v) or (*keys, k) in self.config.secret_keys or looks_secret(k)
        )
        values = self._expand(raw, keys, what)
        try:
            return build_options(spec.config, values, secret=secret), secret
        except OptionError as exc:
            at = (*keys, exc.key) if exc.key else keys
            raise ConfigError(f"{self._where(at)}: {what}: {exc.message}", hint=exc.hint) from None

    def _resolve(self, stack_cfg: StackConfig | None) -> None:
        components = stack_cfg.components if stack_cfg else {}
        for layer in LAYERS:
            if layer in self._resolved:
                continue
            comp = components.get(layer)
            if comp is not None:
                where = f"stack {self.name!r}, {layer}"
                try:
                    if comp.plugin is None:
                        spec = self.plugins.find_datastore_for_url(comp.url or "")
                    else:
                        spec = self.plugins.find_component(layer, comp.plugin)
                except PluginError as exc:
                    raise self._located(exc, comp.keys, where) from None
                what = f"{where} (plugin {spec.name!r})"
                options, secret = self._validate_options(spec, comp.options, comp.keys, what)
                self._resolved[layer] = ResolvedComponent(
                    layer, spec, options, "config", comp.keys, secret
                )
            elif layer in DEFAULT_COMPONENTS:
                spec = self.plugins.find_component(layer, DEFAULT_COMPONENTS[layer])
                self._resolved[layer] = ResolvedComponent(
                    layer, spec, build_options(spec.config, {}), "default"
                )
        if stack_cfg is None:
            return
        for cname, table in stack_cfg.compute_overrides.items():
            keys = ("stacks", self.name, "compute_overrides", cname)
            try:
                spec = self.plugins.find_component("compute", cname)
            except PluginError as exc:
                self._problems.append(
                    f"{self._where(keys)}: stack {self.name!r}, compute_overrides.{cname}: "
                    f"{exc}"
                )
                continue
            what = f"stack {self.name!r}, compute_overrides.{cname} (plugin {spec.name!r})"
            options, _ = self._validate_options(spec, table, keys, what)
            self._compute_overrides[cname] = options

    def _resolve_data(self, stack_cfg: StackConfig | None) -> None:
        """Check every ``[stacks.S.data.NAME]`` table now (plugin installed, options
        valid), so a typo fails before a run starts; the sources are built when read."""
        if stack_cfg is None:
            return
        self._data_config = dict(stack_cfg.data)
        for name in self._data_config:
            self._data_spec(name)

    def _data_spec(self, name: str) -> tuple[DataSourceSpec, Any]:
        if name in self._data_resolved:
            return self._data_resolved[name]
        if name in self._data_recorded:
            from lamina.config import recorded

            entry = self._data_recorded[name]
            what = f"data source {name!r} (plugin {entry.get('plugin')!r})"
            spec = self.plugins.find_data_source(str(entry.get("plugin") or ""))
            values = recorded.recorded_options(self.name, what, entry, self._env)
            for var in references(entry.get("options") or {}):
                if var in self._env:
                    self._remember(self._env[var], f"${{{var}}}")
            try:
                options = build_options(spec.config, values)
            except OptionError as exc:
                raise ConfigError(f"the run's stack {self.name!r}, {what}: {exc.message}",
                                  hint=exc.hint) from None
            self._data_resolved[name] = (spec, options)
            return self._data_resolved[name]
        comp = self._data_config.get(name)
        if comp is None:
            known = self.data_source_names()
            where = self.config.where(("stacks", self.name)) if self.config_file else _NO_CONFIG
            raise DataSourceError(
                f"stack {self.name!r} has no data source {name!r}"
                f"{did_you_mean(name, known)}. Sources: {', '.join(known) or 'none'} ({where})",
                source=name,
                hint=f'add [stacks.{self.name}.data.{name}] with plugin = "..." to the config, '
                "or use one of the sources above",
            )
        where = f"stack {self.name!r}, data source {name!r}"
        try:
            spec = self.plugins.find_data_source(comp.plugin, comp.url)
        except PluginError as exc:
            raise self._located(exc, comp.keys, where) from None
        what = f"{where} (plugin {spec.name!r})"
        options, _secret = self._validate_options(spec, dict(comp.options), comp.keys, what)
        self._data_resolved[name] = (spec, options)
        return self._data_resolved[name]

    def data_source_names(self) -> list[str]:
        """The names of the stack's data sources (``[stacks.S.data.NAME]``), sorted."""
        return sorted({*self._data_config, *self._data_recorded})

    def data_source_spec(self, name: str) -> DataSourceSpec:
        """The kind of data source ``name`` is (its plugin's spec)."""
        return self._data_spec(name)[0]

    def data_source(self, name: str) -> Any:
        """The data source ``name`` of this stack (a :class:`lamina.interfaces.DataSource`),
        built by its plugin's factory on first use.

        :raises lamina.errors.DataSourceError: the stack has no source of that name (the
            message suggests the nearest one).
        """
        with self._lock:
            if name not in self._data_built:
                spec, options = self._data_spec(name)
                try:
                    self._data_built[name] = spec.factory(name, options, self)
                except LaminaError as exc:
                    raise self._redacted(exc) from exc.__cause__
            return self._data_built[name]

    def _configure_plugins(self) -> None:
        registered = {p.name for p in self.plugins.loaded}
        for pname in self.config.plugins:
            if pname not in registered and pname not in self.plugins.disabled:
                known = sorted(registered)
                raise ConfigError(
                    f"{self._where(('plugins', pname))}: [plugins.{pname}] names no loaded "
                    f"plugin{did_you_mean(pname, known)}. Loaded plugins: {', '.join(known)}",
                    hint="use the plugin's entry-point name (`lamina plugins` lists them), "
                    "or install the plugin",
                )
        for info in self.plugins.loaded:
            self._plugin_options[info.name] = self._build_plugin_options(info.name)
        try:
            self.hook.lamina_configure.call_historic(kwargs={"stack": self})
        except Exception as exc:
            raise self._configure_error(exc) from exc

    def _build_plugin_options(self, name: str) -> Any:
        keys = ("plugins", name)
        values = self._expand(self.config.plugins.get(name, {}), keys, f"plugin {name!r}")
        cls = self.plugins.plugin_option_classes().get(name)
        if cls is None:
            return values
        try:
            return build_options(cls, values)
        except OptionError as exc:
            at = (*keys, exc.key) if exc.key else keys
            raise ConfigError(
                f"{self._where(at)}: [plugins.{name}]: {exc.message}", hint=exc.hint
            ) from None

    def _configure_error(self, exc: Exception) -> LaminaError:
        """A ``lamina_configure`` that raised, blamed on its plugin and its config table."""
        from lamina.kernel.hookcalls import culprit_from_traceback, implementers

        impl = culprit_from_traceback(implementers(self.plugins.pm, "lamina_configure"), exc)
        name = impl.plugin_name if impl is not None else "?"
        keys = ("plugins", name)
        if isinstance(exc, LaminaError):
            return self._located(exc, keys, f"plugin {name!r}")
        return ConfigError(
            f"{self._where(keys)}: plugin {name!r} failed to configure itself with "
            f"[plugins.{name}]: {type(exc).__name__}: {exc}",
            hint=f"fix [plugins.{name}] (see the plugin's documentation), or add {name!r} "
            "to disable_plugins",
        )

    def plugin_options(self, name: str) -> Any:
        """The options of plugin ``name`` from its ``[plugins.NAME]`` table: an instance of
        the attrs class it declares (``lamina_plugin_options``), validated, or the table as
        a dict (``${VAR}`` expanded) when it declares none; ``{}`` for an absent table.

        :raises lamina.errors.PluginError: no plugin of that name is registered.
        """
        if name not in self._plugin_options and self.plugins.pm.get_plugin(name) is not None:
            self._plugin_options[name] = self._build_plugin_options(name)  # registered late
        if name not in self._plugin_options:
            known = sorted(self._plugin_options)
            raise PluginError(
                f"No plugin named {name!r} is registered with stack {self.name!r}"
                f"{did_you_mean(name, known)}.",
                hint="use the plugin's entry-point name (`lamina plugins` lists them)",
            )
        return self._plugin_options[name]

    def plugin_state(self, name: str) -> dict[str, Any]:
        """A dict private to plugin ``name`` on this stack: where a plugin keeps what it
        built from its options (a client, an open file), instead of module globals."""
        with self._lock:
            return self._plugin_state.setdefault(name, {})

    # ------------------------------------------------------------------ access

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.layer}={r.spec.name}" for r in self._resolved.values())
        return f"<Stack {self.name!r}: {parts}>"

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve_path(self, path_or_url: str) -> str:
        """A path as the config meant it: relative paths (and ``file://relative``) are
        relative to the project root (the config file's folder); URLs are kept."""
        scheme, _ = split_scheme(path_or_url)
        if scheme == "file" and not is_absolute_path(file_url_to_path(path_or_url)):
            return local_path(path_or_url, self.project_root) or path_or_url
        if scheme:
            return path_or_url
        return local_path(path_or_url, self.project_root) or path_or_url

    def has(self, layer: str) -> bool:
        """Whether the stack has a component for ``layer`` (feature_store, serving and
        monitoring may be unset)."""
        return layer in self._resolved

    def _get(self, layer: str) -> ResolvedComponent:
        if layer not in LAYERS:
            raise ConfigError(
                f"Unknown layer {layer!r}{did_you_mean(layer, LAYERS)}.",
                hint=f"layers are: {', '.join(LAYERS)}",
            )
        try:
            return self._resolved[layer]
        except KeyError:
            where = self.config.where(("stacks", self.name)) if self.config_file else _NO_CONFIG
            raise ConfigError(
                f"Stack {self.name!r} has no {layer} component ({where}).",
                hint=f'add {layer} = {{ plugin = "NAME", ... }} to [stacks.{self.name}]',
            ) from None

    def spec(self, layer: str) -> ComponentSpec:
        """The component spec serving ``layer``."""
        return self._get(layer).spec

    def options(self, layer: str) -> Any:
        """The validated attrs options of ``layer``'s component."""
        return self._get(layer).options

    def component(self, layer: str) -> Any:
        """The component of ``layer``, built by its plugin's factory on first use."""
        with self._lock:
            if layer not in self._built:
                r = self._get(layer)
                try:
                    self._built[layer] = r.spec.factory(r.options, self)
                except LaminaError as exc:
                    raise self._redacted(exc) from exc.__cause__
            return self._built[layer]

    def _redacted(self, exc: LaminaError) -> LaminaError:
        """``exc`` itself when its text holds no option value to hide, else the same
        error with the values written back as templates."""
        message, hint = self.redact(exc.message), self.redact(exc.hint) if exc.hint else exc.hint
        if message == exc.message and hint == exc.hint:
            return exc
        try:
            return type(exc)(message, hint=hint)
        except TypeError:  # a subclass with required arguments of its own
            return ConfigError(message, hint=hint)

    @property
    def datastore(self) -> Any:
        return self.component("datastore")

    @property
    def compute(self) -> Any:
        return self.component("compute")

    @property
    def orchestrator(self) -> Any:
        return self.component("orchestrator")

    @property
    def metadata(self) -> Any:
        return self.component("metadata")

    def compute_for(self, name: str | None) -> Any:
        """The compute component a step asks for: the stack's own for None or its name,
        else component ``name`` with options from ``[stacks.S.compute_overrides.NAME]``."""
        if name is None or name == self.spec("compute").name:
            return self.compute
        with self._lock:
            if name not in self._compute_built:
                keys = ("stacks", self.name, "compute_overrides", name)
                try:
                    spec = self.plugins.find_component("compute", name)
                except PluginError as exc:
                    raise self._located(exc, keys, f"stack {self.name!r}, compute {name!r}") from None
                options = self._compute_overrides.get(name)
                if options is None:
                    options = build_options(spec.config, {})
                self._compute_built[name] = spec.factory(options, self)
            return self._compute_built[name]

    def build_component(
        self, layer: str, name: str, options: Mapping[str, Any] | None = None
    ) -> Any:
        """Build a new component ``name`` of ``layer`` with ``options`` validated against
        its own options class, for a plugin that composes another component (a datastore
        that wraps ``file`` or ``s3``: ``stack.build_component("datastore", "file",
        {"url": options.url})``). The caller owns it and closes it.

        :raises lamina.errors.PluginError: no such component is installed.
        :raises lamina.errors.ConfigError: the options do not fit its options class.
        """
        spec = self.plugins.find_component(layer, name)
        values = self._expand(dict(options or {}), (), f"{layer} {name!r}")
        try:
            built = build_options(spec.config, values)
        except OptionError as exc:
            raise ConfigError(
                f"stack {self.name!r}: {layer} component {name!r} built by a plugin: "
                f"{exc.message}", hint=exc.hint,
            ) from None
        return spec.factory(built, self)

    @property
    def trust(self) -> TrustPolicy:
        """Which runs' pickled values load without consent (``allow_pickle`` and
        ``trusted_namespaces`` of the stack; by default the user's own namespace and
        every branch of the config's project). See :mod:`lamina.datastore.trust`."""
        from lamina.datastore.trust import TrustPolicy

        cfg = self.stack_config
        return TrustPolicy.default(
            self.branch.user, self.branch.project or self.config.project,
            extra=(*(cfg.trusted_namespaces if cfg else ()), self.branch.namespace),
            allow_pickle=cfg.allow_pickle if cfg else "trusted",
        )

    @property
    def retention(self) -> RetentionOptions:
        """The stack's retention policy (``[stacks.S.retention]``; the defaults when the
        stack sets none). See docs/retention.md."""
        from lamina.config.retention import RetentionOptions

        cfg = self.stack_config
        return cfg.retention if cfg is not None else RetentionOptions()

    @property
    def artifacts(self) -> ArtifactStore:
        """The content-addressed artifact store over this stack's datastore."""
        with self._lock:
            if self._artifacts is None:
                from lamina.datastore.artifacts import ArtifactStore

                verify = getattr(self.options("datastore"), "verify_reads", True)
                self._artifacts = ArtifactStore(
                    self.datastore, self.plugins.serializers(), hooks=self.hook, stack=self,
                    verify_reads=verify,
                )
            return self._artifacts

    # ------------------------------------------------------------------ reporting

    def describe(self) -> list[dict[str, Any]]:
        """Per layer: the component, the distribution serving it, and its options with
        secrets masked. Builds nothing."""
        out: list[dict[str, Any]] = []
        for layer in LAYERS:
            r = self._resolved.get(layer)
            if r is None:
                out.append({"layer": layer, "component": None, "distribution": None,
                            "version": None, "origin": "unset", "options": {}})
                continue
            opts = options_to_dict(r.options)
            masked = {
                k: (MASK if (k in r.secret_options or looks_secret(k)) and v not in (None, "")
                    else v)
                for k, v in opts.items()
            }
            out.append({
                "layer": layer,
                "component": r.spec.name,
                "distribution": r.spec.distribution,
                "version": r.spec.distribution_version,
                "origin": r.origin,
                "description": r.spec.description,
                "options": masked,
            })
        return out

    def describe_data(self) -> list[dict[str, Any]]:
        """Per data source: its name, kind (``plugin``), the distribution serving it and
        its options, with secrets masked and passwords taken out of URLs. Builds nothing."""
        from importlib import metadata

        out: list[dict[str, Any]] = []
        for name in self.data_source_names():
            spec, options = self._data_spec(name)
            dist = self.plugins.data_source_distribution(spec.name)
            try:
                version = metadata.version(dist) if dist else ""
            except metadata.PackageNotFoundError:
                version = ""
            shown = {}
            for key, value in options_to_dict(options).items():
                if looks_secret(key) and value not in (None, ""):
                    value = MASK
                elif isinstance(value, str):
                    value = safe_url(self.redact(value))
                shown[key] = value
            out.append({"name": name, "plugin": spec.name, "distribution": dist,
                        "version": version, "options": shown})
        return out

    def validate(self, *, for_run: bool = False) -> list[str]:
        """Problems with this stack and the plugins around it: config problems, broken or
        conflicting plugins, misspelled hooks, credentials written in the committed file,
        and what each plugin's ``lamina_validate_stack`` reports. Empty when all is well.

        With ``for_run``, a broken plugin that this stack does not depend on (none of its
        components, not in ``required_plugins``) is only warned about: an unrelated
        package that fails to import must not stop every run on a laptop. ``lamina stack
        check`` still reports it as a problem."""
        problems = list(self._problems)
        needed = self._required_distributions() | {
            normalize_name(r.spec.distribution) for r in self._resolved.values()
            if r.spec.distribution
        }
        for pname, text in self._plugin_problems():
            info = self.plugins.plugin_info(pname)
            broken = next((b for b in self.plugins.broken if b.name == pname), None)
            dist = (info.distribution if info else broken.distribution if broken else "")
            if for_run and normalize_name(dist or pname) not in needed:
                where = self.plugins.plugin_location(pname)
                warnings.warn(
                    f"{text} [{where or 'file unknown'}]; stack {self.name!r} does not use "
                    f"it, so the run goes on without its hooks (fix or uninstall it, or add "
                    f"disable_plugins = [{pname!r}] to the config; `lamina plugins` shows the "
                    "traceback, `lamina stack check` reports it as a problem)",
                    BrokenPluginWarning, stacklevel=2,
                )
                continue
            problems.append(text)
        problems.extend(self._literal_secrets())
        results, failures = self.plugins.call_isolated("lamina_validate_stack", stack=self)
        for failure in failures:
            problems.append(
                f"{self.plugins.describe_failure(failure)}: lamina_validate_stack raised "
                f"{type(failure.error).__name__}: {failure.error}"
            )
        for result in results:
            problems.extend(str(p) for p in (result or ()))
        return problems

    def _plugin_problems(self) -> list[tuple[str, str]]:
        """(plugin name, problem) for every broken, conflicting or misspelled plugin."""
        found: list[tuple[str, str]] = []
        for b in self.plugins.broken:
            found.append((b.name, (
                f"plugin {b.name!r} ({b.distribution or 'unpackaged'} {b.version}) failed to "
                f"load: {b.error}"
            )))
        for layer, name, dists in self.plugins.conflicts():
            owners = [p for p, specs in self.plugins.components_by_plugin().items()
                      if any(c.layer == layer and c.name == name for c in specs)]
            found.append((owners[-1] if owners else name, (
                f"{layer} component {name!r} is offered by several distributions: "
                f"{', '.join(dists)}; uninstall one or disable it with disable_plugins"
            )))
        for pname, hook in self.plugins.unknown_hooks():
            found.append((pname, (
                f"plugin {pname!r} implements unknown hook {hook!r}"
                f"{did_you_mean(hook, self.plugins.hook_names())}; it is never called"
            )))
        for pname, func in self.plugins.undecorated_hooks():
            found.append((pname, (
                f"plugin {pname!r}: function {func!r} is named like a hook but not decorated "
                "with @lamina.hookimpl; it is never called"
            )))
        return found

    def _required_distributions(self) -> set[str]:
        if not self.config.required_plugins:  # the usual case: no parser to import
            return set()
        from lamina.kernel.requirements import parse_requirement

        names = set()
        for text in self.config.required_plugins:
            try:
                names.add(parse_requirement(text).name)
            except ValueError:  # reported when the config was loaded
                continue
        return names

    def _literal_secrets(self) -> list[str]:
        found = []
        for r in self._resolved.values():
            if r.origin != "config":
                continue
            comp = self.stack_config.components.get(r.layer) if self.stack_config else None
            for key, value in (comp.options if comp else {}).items():
                if (looks_secret(key) and isinstance(value, str) and value
                        and not has_reference(value)
                        and (*r.keys, key) not in self.config.secret_keys):
                    found.append(
                        f"{self._where((*r.keys, key))}: stack {self.name!r}, {r.layer}: "
                        f"option {key!r} holds a literal credential in the committed config; "
                        f'use "${{ENV_VAR}}" or lamina.secrets.toml'
                    )
        for name, comp in self._data_config.items():
            for key, value in comp.options.items():
                if (isinstance(value, str) and value and not has_reference(value)
                        and (*comp.keys, key) not in self.config.secret_keys
                        and (looks_secret(key) or safe_url(value) != value)):
                    found.append(
                        f"{self._where((*comp.keys, key))}: stack {self.name!r}, data source "
                        f"{name!r}: option {key!r} holds a literal credential in the "
                        'committed config; use "${ENV_VAR}" (a URL: '
                        '"postgresql://user:${PGPASSWORD}@host/db") or lamina.secrets.toml'
                    )
        return found

    def check(self) -> dict[str, tuple[bool, str]]:
        """Build each component and ask it to reach its backend: per layer, (ok, message).
        Never raises for a component's failure; the message says what is wrong."""
        results: dict[str, tuple[bool, str]] = {}
        for layer in self._resolved:
            try:
                comp = self.component(layer)
                check = getattr(comp, "check", None)
                if check is None:
                    results[layer] = (True, "built (the component offers no check)")
                    continue
                summary = check()
                results[layer] = (True, str(summary) if summary else "ok")
            except LaminaError as exc:
                results[layer] = (False, self.redact(str(exc)))
            except Exception as exc:
                results[layer] = (False, self.redact(f"{type(exc).__name__}: {exc}"))
        for name in self.data_source_names():
            try:
                summary = self.data_source(name).check()
                results[f"data.{name}"] = (True, str(summary) if summary else "ok")
            except LaminaError as exc:
                results[f"data.{name}"] = (False, self.redact(exc.message))
            except Exception as exc:
                results[f"data.{name}"] = (False, self.redact(f"{type(exc).__name__}: {exc}"))
        return results

    def close(self) -> None:
        """Close every built component that has ``close()``; the first error is raised
        after all were tried."""
        first: BaseException | None = None
        with self._lock:
            built = [*self._data_built.values(), *self._compute_built.values(),
                     *reversed(self._built.values())]
            self._data_built.clear()
            self._built.clear()
            self._compute_built.clear()
            self._artifacts = None
        for comp in built:
            close = getattr(comp, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    # ------------------------------------------------------------------ recorded stacks

    @classmethod
    def from_manifest(
        cls,
        record: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        plugins: PluginManager | None = None,
        cwd: str | Path | None = None,
    ) -> Stack:
        """The stack a run recorded (``manifest["stack"]``, see
        :mod:`lamina.config.recorded`), rebuilt here: what ``python -m lamina task`` and
        other remote task runners use. It needs no config file.

        Every recorded component is found by its name and given its recorded options,
        each ``${VAR}`` read from ``env``; a layer missing from the record is its default
        component. Only the datastore is checked at once: another layer that cannot be
        rebuilt here (plugin not installed, a secret not recorded, a variable not set)
        fails with that message when the task first uses it. A recorded
        ``[plugins.NAME]`` table whose plugin is not installed here is a warning. The
        recorded branch (if any) becomes :attr:`branch`: the task acts for the branch
        that launched the run.

        :param record: a stack record, or one holding only ``components.datastore``
            (:func:`lamina.config.recorded.parse_datastore_spec`) to read the manifest.
        :param env: where ``${VAR}`` is read (default ``os.environ``).
        :param cwd: root for relative paths (default: the recorded project root if it
            exists here, else the working directory).
        :raises lamina.errors.ConfigError: the datastore cannot be rebuilt.
        :raises lamina.errors.PluginError: the datastore's plugin is not installed.
        """
        from lamina.config import recorded

        env = os.environ if env is None else env
        plugins = plugins or PluginManager()
        tables, warns = recorded.plugin_tables(record)
        loaded = {p.name for p in plugins.loaded}
        for pname in [p for p in tables if p not in loaded]:
            del tables[pname]
            warns.append(
                f"[plugins.{pname}]: the run configured plugin {pname!r}, which is not "
                "installed here; its hooks do not run in this process (install it where "
                "tasks run)"
            )
        stack = cls(
            name=str(record.get("name") or DEFAULT_STACK), plugins=plugins,
            project_root=recorded.project_root(record, cwd),
            config=ProjectConfig(plugins=tables), env=env,
        )
        for text in warns:
            warnings.warn(text, stacklevel=2)
        for layer, entry in (record.get("components") or {}).items():
            if layer in LAYERS:
                stack._resolved[layer] = stack._recorded_component(layer, entry)
        stack._resolve(None)
        stack._data_recorded = dict(record.get("data") or {})
        for cname, entry in (record.get("compute_overrides") or {}).items():
            what = f"compute_overrides.{cname}"
            try:
                spec = plugins.find_component("compute", cname)
                values = recorded.recorded_options(stack.name, what, entry, stack._env)
                stack._compute_overrides[cname] = build_options(spec.config, values)
            except (LaminaError, OptionError) as exc:
                stack._problems.append(f"the run's stack {stack.name!r}, {what}: {exc}")
        stack._configure_plugins()
        from lamina.namespaces import branch_from_dict

        stack.branch = branch_from_dict(record.get("branch")) or stack.branch
        return stack

    def _recorded_component(self, layer: str, entry: Mapping[str, Any]) -> ResolvedComponent:
        """One recorded layer; a layer other than the datastore that cannot be rebuilt
        becomes a component whose factory raises why."""
        from lamina.config import recorded

        name = str(entry.get("component", ""))
        what = f"{layer} (plugin {name!r})"
        spec: ComponentSpec | None = None
        try:
            spec = self.plugins.find_component(layer, name)
            values = recorded.recorded_options(self.name, what, entry, self._env)
            for name in references(entry.get("options") or {}):
                if name in self._env:
                    self._remember(self._env[name], f"${{{name}}}")
            secret = [k for k, v in (entry.get("options") or {}).items()
                      if has_reference(v) or looks_secret(k)]
            try:
                options = build_options(spec.config, values, secret=secret)
            except OptionError as exc:
                raise ConfigError(
                    f"the run's stack {self.name!r}, {what}: the recorded options no longer "
                    f"fit the installed {spec.distribution or 'plugin'} "
                    f"{spec.distribution_version}: {exc.message}",
                    hint=f"install the version the run used ({entry.get('distribution')} "
                    f"{entry.get('version')}) where tasks run",
                ) from None
        except LaminaError as exc:
            if layer == "datastore":
                raise
            error = exc

            def fail(options: Any, stack: Any) -> Any:
                raise error

            failing = attrs.evolve(spec, factory=fail) if spec is not None else ComponentSpec(
                layer=layer,  # type: ignore[arg-type]
                name=name, config=_NoOptions, factory=fail,
                distribution=str(entry.get("distribution") or ""),
                distribution_version=str(entry.get("version") or ""),
            )
            return ResolvedComponent(layer, failing, None, "manifest")
        return ResolvedComponent(layer, spec, options, "manifest")


@attrs.frozen
class _NoOptions:
    """Options of a recorded component whose plugin is not installed here."""


def resolve_stack(stack: Stack | str | None) -> Stack:
    """A :class:`Stack` as given, by name, or the configured default."""
    if isinstance(stack, Stack):
        return stack
    return Stack.load(stack)


def _check_required(cfg: ProjectConfig) -> None:
    if not cfg.required_plugins:
        return
    from lamina.kernel.requirements import unmet

    try:
        missing = unmet(cfg.required_plugins)
    except ValueError as exc:
        raise cfg.error(("required_plugins",), f"required_plugins: {exc}") from None
    if missing:
        listed = ", ".join(req.text for req, _ in missing)
        installed = ", ".join(f"{req.name} {have}" for req, have in missing if have) or "none"
        raise cfg.error(
            ("required_plugins",),
            f"Missing required plugins: {listed} (installed: {installed})",
            hint="pip install " + " ".join(f"'{req.text}'" for req, _ in missing),
            cls=MissingRequiredPluginError,
        )


def choose_stack(
    cfg: ProjectConfig, name: str | None, env: Mapping[str, str]
) -> tuple[str, StackConfig | None]:
    """Which stack applies: (name, its config, or None for the embedded default)."""
    by = "the stack argument"
    if not name and env.get(STACK_ENV):
        name, by = env[STACK_ENV], f"the environment variable {STACK_ENV}"
    elif not name and cfg.default_stack:
        name, by = cfg.default_stack, f"default_stack in {cfg.where(('default_stack',))}"
    if not name:
        if not cfg.stacks:
            return DEFAULT_STACK, None
        if DEFAULT_STACK in cfg.stacks:
            return DEFAULT_STACK, cfg.stacks[DEFAULT_STACK]
        if len(cfg.stacks) == 1:
            only = next(iter(cfg.stacks))
            return only, cfg.stacks[only]
        raise ConfigError(
            f"{cfg.where(('stacks',))}: several stacks ({', '.join(cfg.stacks)}) and no "
            "default_stack, so lamina cannot choose one",
            hint="pass --stack NAME, set LAMINA_STACK, or add default_stack = \"NAME\" "
            "at the top of the config",
        )
    if name in cfg.stacks:
        return name, cfg.stacks[name]
    if name == DEFAULT_STACK:
        return DEFAULT_STACK, None
    if cfg.source is None:
        raise StackNotFoundError(
            f"Stack {name!r} (from {by}) is not defined: {_NO_CONFIG}.",
            hint=f"create lamina.toml with a [stacks.{name}] table, or drop --stack to use "
            "the embedded default stack",
        )
    raise StackNotFoundError(
        f"{cfg.where(('stacks',))}: stack {name!r} (from {by}) is not defined"
        f"{did_you_mean(name, cfg.stacks)}. Stacks: "
        f"{', '.join(cfg.stacks) or 'none'}",
        hint=f"choose one of the stacks above, or add a [stacks.{name}] table to "
        f"{cfg.source.display}",
    )


def load_stack(name: str | None = None, **kw: Any) -> Stack:
    """Load and validate a stack; see :meth:`Stack.load`."""
    return Stack.load(name, **kw)

"""Finds, loads and indexes plugins: the builtin one and every ``lamina`` entry point.

What it adds to pluggy, and why:

* each entry point is loaded on its own, so one broken plugin is reported with its
  distribution, version and error while every other plugin keeps working (pluggy's
  ``load_setuptools_entrypoints`` stops at the first import error);
* the builtin plugins are registered from one list (:data:`lamina.kernel.defaults.
  DEFAULT_PLUGINS`), through the same hooks as any third-party plugin;
* hooks are always called through pluggy (order, wrappers and tracing as pluggy documents);
  a failing implementation is named and isolated by :mod:`lamina.kernel.hookcalls`;
* ``LAMINA_TRACE_HOOKS=1`` (or ``lamina -vv``) prints every hook call and its result;
* two distributions offering the same component name are reported, never silently
  shadowed, and a stack that names such a component gets an error saying how to choose;
* misspelled hook names (``lamina_befor_run``) are reported instead of being ignored;
* a missing component names what is installed and the ``pip install`` line that fixes it.

A :class:`PluginManager` carries all its state; two in one process share nothing.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback as tb
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from lamina import hookspecs
from lamina.errors import PluginError, PluginNotInstalledError
from lamina.interfaces.component import LAYERS, ComponentSpec
from lamina.interfaces.data_source import DataSourceSpec
from lamina.kernel.defaults import DEFAULT_PLUGINS, ESSENTIAL_PLUGIN
from lamina.kernel.distributions import (
    distribution_for,
    distribution_for_scheme,
    entry_points,
    normalize_name,
)
from lamina.kernel.hookcalls import HookFailure, call_isolated, call_per_plugin
from lamina.kernel.suggest import did_you_mean

#: Entry-point group that announces plugins (``[project.entry-points.lamina]``).
ENTRY_POINT_GROUP = "lamina"
#: Environment variable that turns entry-point autoloading off (as pytest's
#: ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``); the builtin plugins are still registered.
AUTOLOAD_ENV = "LAMINA_DISABLE_PLUGIN_AUTOLOAD"
#: Environment variable that prints every hook call and its result on stderr.
TRACE_ENV = "LAMINA_TRACE_HOOKS"
BUILTIN_NAME = ESSENTIAL_PLUGIN
CORE_DISTRIBUTION = "lamina"

#: layer -> the hook that offers components of that layer.
LAYER_HOOKS: dict[str, str] = {
    "datastore": "lamina_datastores",
    "compute": "lamina_compute_backends",
    "orchestrator": "lamina_orchestrators",
    "metadata": "lamina_metadata_stores",
    "feature_store": "lamina_feature_stores",
    "serving": "lamina_serving_backends",
    "monitoring": "lamina_monitors",
    "registry": "lamina_model_registries",
}


@attrs.frozen
class LoadedPlugin:
    """A plugin that is registered and whose hooks are called."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: tuple[str, ...] = ()
    entry_point: str = ""
    plugin: object = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class BrokenPlugin:
    """A plugin that could not be loaded or registered, or whose component hook failed.

    The other plugins are unaffected; ``lamina plugins`` lists these with their error.
    """

    name: str
    distribution: str
    version: str
    error: str
    traceback: str = ""
    entry_point: str = ""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _autoload_default() -> bool:
    return not _flag(AUTOLOAD_ENV)


def _format_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _component_specs(hook_name: str, layer: str, results: list[Any]) -> list[ComponentSpec]:
    """The specs one plugin's component hook returned, checked for type and layer."""
    specs = [spec for result in results for spec in (result or ())]
    for spec in specs:
        if not isinstance(spec, ComponentSpec):
            raise TypeError(
                f"{hook_name}() must return ComponentSpec objects, got {type(spec).__name__}"
            )
        if spec.layer != layer:
            raise TypeError(
                f"{hook_name}() returned component {spec.name!r} with layer={spec.layer!r}; "
                f"it must be {layer!r}"
            )
    return specs


class PluginManager:
    """The registry of every plugin lamina uses in this process (or this stack).

    :param autoload: load the ``lamina`` entry points of installed distributions. None
        means "unless the environment variable ``LAMINA_DISABLE_PLUGIN_AUTOLOAD`` is set".
    :param disabled: plugin names (entry-point names) or distribution names not to load,
        like pytest's ``-p no:NAME``; the config's ``disable_plugins``.
    """

    def __init__(self, *, autoload: bool | None = None, disabled: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self.loaded: list[LoadedPlugin] = []
        self.broken: list[BrokenPlugin] = []
        self.disabled: tuple[str, ...] = tuple(disabled)
        self.autoload = _autoload_default() if autoload is None else autoload
        #: names of entry points that were skipped because they are disabled.
        self.skipped: list[str] = []
        self._components: list[ComponentSpec] | None = None
        self._by_plugin: dict[str, list[ComponentSpec]] = {}
        self._serializers: list[Any] | None = None
        self._data_sources: list[DataSourceSpec] | None = None
        self._data_source_dists: dict[str, str] = {}
        self._data_source_owners: dict[str, list[DataSourceSpec]] = {}
        self._option_classes: dict[str, type] | None = None

        self._undo_tracing: Any = None
        if _flag(TRACE_ENV):
            self.enable_tracing()
        self._register_defaults()
        if self.autoload:
            self._load_entry_points()

    # ------------------------------------------------------------------ loading

    def _is_disabled(self, name: str, distribution: str) -> bool:
        wanted = {d.strip() for d in self.disabled}
        return name in wanted or normalize_name(distribution) in {
            normalize_name(d) for d in wanted
        }

    def _register_defaults(self) -> None:
        """Register :data:`DEFAULT_PLUGINS` (imported by name: the kernel holds no import of
        a layer implementation)."""
        from lamina import __version__

        for name, module in DEFAULT_PLUGINS:
            if name != ESSENTIAL_PLUGIN and self._is_disabled(name, ""):
                self.skipped.append(name)
                self.pm.set_blocked(name)
                continue
            try:
                plugin = importlib.import_module(module)
            except Exception as exc:
                self._add_broken(BrokenPlugin(
                    name=name, distribution=CORE_DISTRIBUTION, version=__version__,
                    error=_format_error(exc), traceback=tb.format_exc(),
                    entry_point=f"{name} = {module}",
                ))
                continue
            self._register(plugin, name, distribution=CORE_DISTRIBUTION, version=__version__,
                           entry_point=f"{name} = {module}")

    def _add_broken(self, broken: BrokenPlugin) -> None:
        """Record a broken plugin once (a component hook asked twice fails twice)."""
        if not any((b.name, b.error) == (broken.name, broken.error) for b in self.broken):
            self.broken.append(broken)

    def enable_tracing(self, write: Any = None) -> None:
        """Print every hook call, its arguments and its result (pluggy's tracing), to
        ``write`` (default: standard error). ``LAMINA_TRACE_HOOKS=1`` turns it on for every
        plugin manager; ``lamina -vv`` sets that variable."""
        self.pm.trace.root.setwriter(write or sys.stderr.write)
        if self._undo_tracing is None:
            self._undo_tracing = self.pm.enable_tracing()

    def _load_entry_points(self) -> None:
        defaults = {name for name, _ in DEFAULT_PLUGINS}
        for ep in entry_points(ENTRY_POINT_GROUP):
            dist_name, dist_version = ep.distribution, ep.version
            if ep.name in defaults and normalize_name(dist_name) == CORE_DISTRIBUTION:
                continue  # registered from DEFAULT_PLUGINS (older installs announced them)
            if self._is_disabled(ep.name, dist_name):
                self.skipped.append(ep.name)
                self.pm.set_blocked(ep.name)
                continue
            ep_text = f"{ep.name} = {ep.value}"
            try:
                plugin = ep.load()
            except BaseException as exc:  # a plugin's import may raise anything
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._add_broken(
                    BrokenPlugin(
                        name=ep.name,
                        distribution=dist_name,
                        version=dist_version,
                        error=_format_error(exc),
                        traceback=tb.format_exc(),
                        entry_point=ep_text,
                    )
                )
                continue
            self._register(
                plugin, ep.name, distribution=dist_name, version=dist_version, entry_point=ep_text
            )

    def _register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str,
        version: str,
        entry_point: str = "",
    ) -> bool:
        owner = self._owner_of_name(name)
        if owner is not None:
            self._add_broken(
                BrokenPlugin(
                    name=name,
                    distribution=distribution,
                    version=version,
                    error=(
                        f"PluginError: the plugin name {name!r} is already taken by "
                        f"{owner.distribution or 'a registered plugin'}; rename the entry "
                        "point of one of them"
                    ),
                    entry_point=entry_point,
                )
            )
            return False
        self._components = self._serializers = self._option_classes = None
        try:
            registered = self.pm.register(plugin, name=name)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._add_broken(
                BrokenPlugin(
                    name=name,
                    distribution=distribution,
                    version=version,
                    error=_format_error(exc),
                    traceback=tb.format_exc(),
                    entry_point=entry_point,
                )
            )
            return False
        if registered is None:  # blocked
            self.skipped.append(name)
            return False
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
        self.loaded.append(
            LoadedPlugin(
                name=name,
                distribution=distribution,
                version=version,
                module=getattr(plugin, "__name__", type(plugin).__module__),
                hooks=hooks,
                entry_point=entry_point,
                plugin=plugin,
            )
        )
        self._components = None
        self._data_sources = None
        self._serializers = None
        self._option_classes = None
        return True

    def _owner_of_name(self, name: str) -> LoadedPlugin | None:
        for p in self.loaded:
            if p.name == name:
                return p
        return None

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str = "",
        version: str = "",
    ) -> None:
        """Register a plugin object or module that is not announced by an entry point
        (a test's plugin, a notebook's). Raises :class:`PluginError` if pluggy rejects it
        (unknown argument in a hook, name taken)."""
        plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        before = len(self.broken)
        ok = self._register(plugin, plugin_name, distribution=distribution, version=version)
        if not ok and len(self.broken) > before:
            problem = self.broken.pop()
            raise PluginError(
                f"Could not register plugin {plugin_name!r}: {problem.error}",
                hint="fix the hook implementation's name or arguments (see lamina.hookspecs)",
            )

    # ------------------------------------------------------------------ queries

    def plugin_location(self, name: str) -> str:
        """The file of plugin ``name``'s module (loaded or broken), for messages; "" when
        unknown. Never imports anything."""
        info = self._owner_of_name(name)
        module = info.module if info else ""
        if not module:
            broken = next((b for b in self.broken if b.name == name), None)
            module = broken.entry_point.partition("=")[2].partition(":")[0].strip() if broken else ""
        if not module:
            return ""
        loaded = sys.modules.get(module)
        if loaded is not None:
            return getattr(loaded, "__file__", "") or ""
        try:
            import importlib.util

            spec = importlib.util.find_spec(module)
        except Exception:  # finding a submodule imports its package, which may be broken
            return ""
        return (spec.origin or "") if spec else ""

    def plugin_info(self, name: str) -> LoadedPlugin | None:
        """The loaded plugin registered under ``name``, or None."""
        return self._owner_of_name(name)

    def _info_for(self, plugin_name: str) -> LoadedPlugin | None:
        return self._owner_of_name(plugin_name)

    def call_isolated(
        self, hook_name: str, *, rerun: str = "all", **kwargs: Any
    ) -> tuple[list[Any], list[HookFailure]]:
        """Call a hook through pluggy; an implementation that raises is named in the
        returned failures and the others still answer (:func:`lamina.kernel.hookcalls.
        call_isolated`)."""
        return call_isolated(self.pm, hook_name, kwargs, rerun=rerun)  # type: ignore[arg-type]

    def describe_failure(self, failure: HookFailure) -> str:
        """``plugin 'x' (dist 1.0)``: who failed, for messages."""
        info = self._info_for(failure.plugin)
        if info is None or not info.distribution:
            return f"plugin {failure.plugin!r}"
        return f"plugin {failure.plugin!r} ({info.distribution} {info.version})"

    def plugin_option_classes(self) -> dict[str, type]:
        """The attrs class each plugin declares for its ``[plugins.NAME]`` table
        (``lamina_plugin_options``), by plugin name. A plugin whose hook fails or returns
        something else is reported in :attr:`broken`."""
        if self._option_classes is None:
            classes: dict[str, type] = {}
            for plugin_name, results, failure in call_per_plugin(
                self.pm, "lamina_plugin_options"
            ):
                declared = [r for r in results if r is not None]
                problem = failure.text if failure else None
                if not problem and (len(declared) != 1 or not attrs.has(declared[0])):
                    problem = ("lamina_plugin_options() must return one attrs class, got "
                               f"{declared!r}")
                if problem:
                    info = self._info_for(plugin_name)
                    self._add_broken(BrokenPlugin(
                        name=plugin_name,
                        distribution=info.distribution if info else "",
                        version=info.version if info else "",
                        error=problem,
                        traceback=failure.traceback if failure else "",
                        entry_point=info.entry_point if info else "",
                    ))
                    continue
                classes[plugin_name] = declared[0]
            self._option_classes = classes
        return dict(self._option_classes)

    def components(self) -> list[ComponentSpec]:
        """Every component every plugin offers, with ``distribution`` filled in.

        A plugin whose component hook raises or returns something else than component
        specs is reported in :attr:`broken`; the others' components are still returned.
        """
        if self._components is not None:
            return list(self._components)
        found: list[ComponentSpec] = []
        by_plugin: dict[str, list[ComponentSpec]] = {}
        for layer, hook_name in LAYER_HOOKS.items():
            for plugin_name, results, failure in call_per_plugin(self.pm, hook_name):
                info = self._info_for(plugin_name)
                dist = info.distribution if info else ""
                version = info.version if info else ""
                try:
                    if failure is not None:
                        raise failure.error
                    specs = _component_specs(hook_name, layer, results)
                except Exception as exc:
                    self._add_broken(
                        BrokenPlugin(
                            name=plugin_name,
                            distribution=dist,
                            version=version,
                            error=f"{hook_name}() failed: {_format_error(exc)}",
                            traceback=failure.traceback if failure else tb.format_exc(),
                            entry_point=info.entry_point if info else "",
                        )
                    )
                    continue
                filled = [
                    attrs.evolve(spec, distribution=dist, distribution_version=version)
                    for spec in specs
                ]
                found.extend(filled)
                by_plugin.setdefault(plugin_name, []).extend(filled)
        self._components = found
        self._by_plugin = by_plugin
        return list(found)

    def components_by_plugin(self) -> dict[str, list[ComponentSpec]]:
        """The components each plugin (by registered name) offers."""
        self.components()
        return {k: list(v) for k, v in self._by_plugin.items()}

    def components_of(self, layer: str) -> list[ComponentSpec]:
        """The installed components of one layer."""
        return [c for c in self.components() if c.layer == layer]

    def conflicts(self) -> list[tuple[str, str, list[str]]]:
        """Component names offered more than once in a layer: (layer, name, distributions)."""
        seen: dict[tuple[str, str], list[str]] = {}
        for c in self.components():
            seen.setdefault((c.layer, c.name), []).append(c.distribution or "(unpackaged)")
        return [(layer, name, dists) for (layer, name), dists in seen.items() if len(dists) > 1]

    def _installed_text(self, layer: str) -> str:
        have = self.components_of(layer)
        if not have:
            return "none"
        return ", ".join(f"{c.name} ({c.distribution or 'unpackaged'})" for c in have)

    def _broken_note(self) -> str:
        if not self.broken:
            return ""
        names = ", ".join(f"{b.distribution or b.name}" for b in self.broken)
        return f" Plugins that failed to load: {names} (see `lamina plugins`)."

    def find_component(self, layer: str, name: str) -> ComponentSpec:
        """The one installed component ``name`` of ``layer``.

        :raises PluginNotInstalledError: nothing offers it; the message lists the
            installed choices and the ``pip install`` line when the distribution is known.
        :raises PluginError: two distributions offer it.
        """
        if layer not in LAYER_HOOKS:
            raise PluginError(
                f"Unknown layer {layer!r}{did_you_mean(layer, LAYERS)}.",
                hint=f"layers are: {', '.join(LAYERS)}",
            )
        matches = [c for c in self.components_of(layer) if c.name == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            dists = [c.distribution or "(unpackaged)" for c in matches]
            raise PluginError(
                f"Two plugins offer the {layer} component {name!r}: "
                f"{' and '.join(dists)}. lamina will not pick one silently.",
                hint=(
                    "uninstall one of them (pip uninstall "
                    f"{dists[-1]}), or add the unwanted plugin's name to "
                    "`disable_plugins` in lamina.toml"
                ),
            )
        installed = self._installed_text(layer)
        message = (
            f"No {layer} component named {name!r} is installed. Installed: {installed}."
            + self._broken_note()
        )
        dist = distribution_for(layer, name)
        if dist:
            hint = f"pip install {dist}"
        else:
            suggestion = did_you_mean(name, [c.name for c in self.components_of(layer)])
            hint = (
                f"no installed plugin offers {layer} {name!r}{suggestion}; check the "
                "spelling, or install the plugin distribution that provides it "
                "(`lamina plugins` lists what is installed)"
            )
        raise PluginNotInstalledError(message, hint=hint)

    def find_datastore_for_url(self, url: str) -> ComponentSpec:
        """The datastore component serving ``url``'s scheme (no scheme means ``file``)."""
        scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
        matches = [c for c in self.components_of("datastore") if scheme in c.url_schemes]
        by_name: dict[str, list[ComponentSpec]] = {}
        for c in matches:
            by_name.setdefault(c.name, []).append(c)
        if len(by_name) == 1:
            (name, specs), = by_name.items()
            if len(specs) == 1:
                return specs[0]
            return self.find_component("datastore", name)  # raises the conflict error
        if len(by_name) > 1:
            offers = ", ".join(
                f"{c.name} ({c.distribution or 'unpackaged'})" for c in matches
            )
            raise PluginError(
                f"Several datastores serve {scheme}:// URLs: {offers}.",
                hint=(
                    "name one explicitly: datastore = { plugin = \"NAME\", url = "
                    f"\"{url}\" }}"
                ),
            )
        schemes = sorted(
            {s for c in self.components_of("datastore") for s in c.url_schemes}
        )
        dist = distribution_for_scheme(scheme)
        message = (
            f"No datastore serves {scheme}:// URLs (for {url!r}). Installed schemes: "
            f"{', '.join(schemes) or 'none'} ({self._installed_text('datastore')})."
            + self._broken_note()
        )
        hint = (
            f"pip install {dist}"
            if dist
            else "install a datastore plugin that serves this scheme, or use a file path"
        )
        raise PluginNotInstalledError(message, hint=hint)

    # ------------------------------------------------------------------ data sources

    def data_sources(self) -> list[DataSourceSpec]:
        """Every kind of data source the plugins offer (``lamina_data_sources``), with the
        plugin that offered each; a plugin whose hook fails is reported in :attr:`broken`."""
        if self._data_sources is not None:
            return list(self._data_sources)
        found: list[DataSourceSpec] = []
        for plugin_name, results, failure in call_per_plugin(self.pm, "lamina_data_sources"):
            info = self._info_for(plugin_name)
            try:
                if failure is not None:
                    raise failure.error
                specs = [spec for result in results for spec in (result or ())]
                for spec in specs:
                    if not isinstance(spec, DataSourceSpec):
                        raise TypeError("lamina_data_sources() must return DataSourceSpec "
                                        f"objects, got {type(spec).__name__}")
            except Exception as exc:
                self._add_broken(BrokenPlugin(
                    name=plugin_name, distribution=info.distribution if info else "",
                    version=info.version if info else "",
                    error=f"lamina_data_sources() failed: {_format_error(exc)}",
                    traceback=failure.traceback if failure else tb.format_exc(),
                    entry_point=info.entry_point if info else "",
                ))
                continue
            found.extend(specs)
            for spec in specs:
                self._data_source_dists[spec.name] = info.distribution if info else ""
                self._data_source_owners.setdefault(plugin_name, []).append(spec)
        self._data_sources = found
        return list(found)

    def data_sources_by_plugin(self) -> dict[str, list[DataSourceSpec]]:
        """The kinds of data source each plugin (by registered name) offers."""
        self.data_sources()
        return {k: list(v) for k, v in self._data_source_owners.items()}

    def data_source_distribution(self, name: str) -> str:
        """The distribution that offers data-source kind ``name`` ("" when unknown)."""
        self.data_sources()
        return self._data_source_dists.get(name, "")

    def find_data_source(self, plugin: str | None, url: str | None = None) -> DataSourceSpec:
        """The data-source kind named ``plugin`` (or, without one, the kind serving the
        ``url``'s scheme).

        :raises PluginNotInstalledError: none is installed; the message lists the
            installed kinds and the ``pip install`` line when the distribution is known.
        :raises PluginError: two plugins offer it.
        """
        have = self.data_sources()
        installed = ", ".join(sorted({s.name for s in have})) or "none"
        if plugin is None:
            scheme = (url or "").split("://", 1)[0].lower() if "://" in (url or "") else ""
            matches = [s for s in have if scheme and scheme in s.url_schemes]
            if len({s.name for s in matches}) == 1:
                return matches[0]
            if matches:
                raise PluginError(
                    f"Several data sources serve {scheme}:// URLs: "
                    f"{', '.join(sorted({s.name for s in matches}))}.",
                    hint='name one: plugin = "NAME"')
            dist = distribution_for("data", scheme) if scheme else None
            raise PluginNotInstalledError(
                f"No data source serves {scheme or 'scheme-less'} URLs ({url!r}). Installed "
                f"data sources: {installed}." + self._broken_note(),
                hint=f"pip install {dist}" if dist else 'add plugin = "NAME" to the source',
            )
        matches = [s for s in have if s.name == plugin]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise PluginError(
                f"Two plugins offer the data source {plugin!r}; lamina will not pick one "
                "silently.", hint="uninstall one, or disable it with disable_plugins")
        dist = distribution_for("data", plugin)
        raise PluginNotInstalledError(
            f"No data source named {plugin!r} is installed. Installed data sources: "
            f"{installed}." + self._broken_note(),
            hint=f"pip install {dist}" if dist else (
                f"check the spelling{did_you_mean(plugin, [s.name for s in have])}, or "
                "install the plugin that provides it (`lamina plugins` lists them)"),
        )

    def serializers(self) -> list[Any]:
        """Every plugin's serializers, highest ``priority`` first (stable otherwise)."""
        if self._serializers is None:
            found: list[Any] = []
            for result in self.hook.lamina_serializers():
                found.extend(result or ())
            found.sort(key=lambda s: -getattr(s, "priority", 0))
            self._serializers = found
        return list(self._serializers)

    def unknown_hooks(self) -> list[tuple[str, str]]:
        """Hook implementations whose name is no lamina hook: (plugin name, hook name).

        pluggy's ``check_pending`` raises at the first one; this lists them all. A
        misspelled hook would otherwise never be called, silently.
        """
        found: list[tuple[str, str]] = []
        for plugin_name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # a blocked name
                continue
            for caller in self.pm.get_hookcallers(plugin) or ():
                if caller.has_spec():
                    continue
                opts: dict[str, Any] = dict(self.pm.parse_hookimpl_opts(plugin, caller.name) or {})
                if not opts.get("optionalhook"):
                    found.append((plugin_name, caller.name))
        return sorted(found)

    def undecorated_hooks(self) -> list[tuple[str, str]]:
        """Functions of a plugin named like a lamina hook but not decorated with
        ``@lamina.hookimpl``: pluggy ignores them, so they would never be called.
        (plugin name, function name)."""
        found: list[tuple[str, str]] = []
        for info in self.loaded:
            implemented = set(info.hooks)
            for attr in dir(info.plugin):
                if not attr.startswith("lamina_") or attr in implemented:
                    continue
                value = getattr(info.plugin, attr, None)
                if callable(value) and self.pm.parse_hookimpl_opts(info.plugin, attr) is None:
                    found.append((info.name, attr))
        return sorted(found)

    def check_pending(self) -> None:
        """Raise :class:`PluginError` listing every unknown hook implementation."""
        unknown = self.unknown_hooks()
        if unknown:
            specs = [n for n in dir(hookspecs) if n.startswith("lamina_")]
            lines = "; ".join(
                f"plugin {p!r} implements {h!r}{did_you_mean(h, specs)}" for p, h in unknown
            )
            raise PluginError(
                f"Unknown hooks: {lines}.",
                hint="rename the function to a hook of lamina.hookspecs",
            )

    def hook_names(self) -> list[str]:
        """The names of every hook lamina defines."""
        return sorted(n for n in dir(hookspecs) if n.startswith("lamina_"))

"""The plugin manager against real installed distributions (entry points in dist-info)."""

from __future__ import annotations

import attrs
import pytest
from kernel_fixtures.helpers import fake_plugins  # noqa: F401  (session fixture)

from lamina import hookimpl
from lamina.errors import PluginError, PluginNotInstalledError
from lamina.interfaces import ComponentSpec
from lamina.kernel.pluginmanager import PluginManager


@pytest.fixture
def visible(monkeypatch, fake_plugins):  # noqa: F811
    """Make the named fixture distributions visible to importlib.metadata."""

    def show(*names: str) -> None:
        for name in names:
            monkeypatch.syspath_prepend(str(fake_plugins[name]))

    monkeypatch.delenv("LAMINA_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return show


def test_builtin_is_registered_through_the_hooks_first():
    pm = PluginManager(autoload=False)
    first = pm.loaded[0]
    assert (first.name, first.distribution, first.module) == (
        "builtin", "lamina", "lamina.builtin.plugin"
    )
    assert "lamina_datastores" in first.hooks
    found = {(c.layer, c.name): c.distribution for c in pm.components()}
    assert found == {  # autoload off keeps every builtin plugin: one registration path
        ("datastore", "file"): "lamina",
        ("compute", "local"): "lamina",
        ("orchestrator", "local"): "lamina",
        ("metadata", "sqlite"): "lamina",
        ("feature_store", "local"): "lamina",
        ("serving", "local"): "lamina",
        ("monitoring", "builtin"): "lamina",
        ("registry", "builtin"): "lamina",
    }
    assert [p.name for p in pm.loaded] == ["builtin", "features", "serving", "monitoring",
                                           "data", "data_lakes"]
    assert sorted((s.name, s.url_schemes) for s in pm.data_sources()) == [
        ("delta", ()), ("iceberg", ()), ("parquet", ()), ("sqlite", ("sqlite",))]
    # builtin components come out of the same hook a third-party plugin implements
    assert pm.hook.lamina_compute_backends()[0][0].name == "local"


def test_installed_plugin_is_found_through_its_entry_point(visible):
    visible("good")
    pm = PluginManager()
    info = pm.plugin_info("fakegood")
    assert info is not None
    assert (info.distribution, info.version) == ("lamina-fake-good", "1.2.0")
    assert info.entry_point == "fakegood = lamina_fake_good"
    assert {"lamina_compute_backends", "lamina_configure", "lamina_cli_commands"} <= set(
        info.hooks
    )
    spec = pm.find_component("compute", "fakecompute")
    assert (spec.distribution, spec.distribution_version) == ("lamina-fake-good", "1.2.0")
    assert [c.name for c in pm.components_by_plugin()["fakegood"]] == ["fakecompute"]


def test_autoload_off_loads_only_builtin(visible, monkeypatch):
    visible("good")
    assert [p.name for p in PluginManager(autoload=False).loaded] == [
        "builtin", "features", "serving", "monitoring", "data", "data_lakes"]
    monkeypatch.setenv("LAMINA_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager()
    assert pm.autoload is False
    assert [p.name for p in pm.loaded] == ["builtin", "features", "serving", "monitoring",
                                           "data", "data_lakes"]
    assert sorted((s.name, s.url_schemes) for s in pm.data_sources()) == [
        ("delta", ()), ("iceberg", ()), ("parquet", ()), ("sqlite", ("sqlite",))]


def test_broken_plugin_is_reported_and_the_others_keep_working(visible):
    visible("broken", "good")
    pm = PluginManager()
    (broken,) = pm.broken
    assert (broken.name, broken.distribution, broken.version) == (
        "fakebroken", "lamina-fake-broken", "0.3.0"
    )
    assert broken.error == "RuntimeError: boom: lamina_fake_broken cannot be imported"
    assert "lamina_fake_broken" in broken.traceback
    assert pm.find_component("compute", "fakecompute").distribution == "lamina-fake-good"
    assert "fakebroken" not in {p.name for p in pm.loaded}


def test_two_distributions_offering_one_name_are_a_conflict(visible):
    visible("dup_a", "dup_b")
    pm = PluginManager()
    ((layer, name, dists),) = pm.conflicts()
    assert (layer, name, sorted(dists)) == (
        "compute", "twin", ["lamina-fake-dup-a", "lamina-fake-dup-b"]
    )
    with pytest.raises(PluginError) as err:
        pm.find_component("compute", "twin")
    text = str(err.value)
    assert "lamina-fake-dup-a" in text and "lamina-fake-dup-b" in text
    assert "disable_plugins" in text and "pip uninstall" in text


@pytest.mark.parametrize("disabled", ["dupb", "lamina-fake-dup-b", "lamina_fake_dup_b"])
def test_disabled_plugin_is_not_loaded(visible, disabled):
    visible("dup_a", "dup_b")
    pm = PluginManager(disabled=[disabled])
    assert pm.conflicts() == []
    assert pm.find_component("compute", "twin").distribution == "lamina-fake-dup-a"
    assert pm.skipped == ["dupb"]


def test_misspelled_hook_is_reported(visible):
    visible("typo")
    pm = PluginManager()
    assert pm.unknown_hooks() == [("faketypo", "lamina_befor_run")]
    with pytest.raises(PluginError, match="did you mean 'lamina_before_run'"):
        pm.check_pending()
    # it is never called as the real hook
    assert pm.hook.lamina_before_run(run=None, stack=None) == []
    # a hook-named function without @hookimpl is reported too
    assert pm.undecorated_hooks() == [("faketypo", "lamina_after_run")]
    assert pm.hook.lamina_after_run(run=None, stack=None) == []


def test_missing_known_component_names_installed_ones_and_pip_line():
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginNotInstalledError) as err:
        pm.find_component("compute", "k8s")
    assert err.value.message == (
        "No compute component named 'k8s' is installed. Installed: local (lamina)."
    )
    assert err.value.hint == "pip install lamina-compute-k8s"


def test_missing_unknown_component_suggests_spelling():
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginNotInstalledError) as err:
        pm.find_component("compute", "locl")
    assert "no installed plugin offers compute 'locl' (did you mean 'local'?)" in err.value.hint
    with pytest.raises(PluginError, match="did you mean 'compute'"):
        pm.find_component("compte", "local")


def test_missing_component_mentions_broken_plugins(visible):
    visible("broken")
    pm = PluginManager()
    with pytest.raises(PluginNotInstalledError, match="failed to load: lamina-fake-broken"):
        pm.find_component("orchestrator", "nosuchengine")


def test_datastore_for_url_by_scheme():
    pm = PluginManager(autoload=False)
    assert pm.find_datastore_for_url("relative/folder").name == "file"
    assert pm.find_datastore_for_url("memory://x").name == "file"
    assert pm.find_datastore_for_url("file:///abs").name == "file"
    with pytest.raises(PluginNotInstalledError) as err:
        pm.find_datastore_for_url("s3://bucket/prefix")
    assert "No datastore serves s3:// URLs" in err.value.message
    assert "file, local, memory" in err.value.message
    assert err.value.hint == "pip install lamina-datastore-s3"
    with pytest.raises(PluginNotInstalledError, match="gs://"):
        pm.find_datastore_for_url("gs://b")


@attrs.frozen
class _NoOptions:
    pass


class _Serializers:
    def __init__(self, *priorities: int) -> None:
        self.priorities = priorities

    @hookimpl
    def lamina_serializers(self):
        return [type("S", (), {"name": f"s{p}", "priority": p})() for p in self.priorities]


def test_serializers_sorted_by_priority():
    pm = PluginManager(autoload=False)
    pm.register(_Serializers(5, 500, -1), name="extra")
    names = [s.name for s in pm.serializers()]
    assert names[0] == "s500"
    assert names.index("s5") < names.index("s-1")
    prios = [s.priority for s in pm.serializers()]
    assert prios == sorted(prios, reverse=True)


def test_register_rejects_hook_with_unknown_argument():
    class Bad:
        @hookimpl
        def lamina_before_run(self, run, bogus):
            pass

    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError, match="bogus"):
        pm.register(Bad(), name="bad")
    assert "bad" not in [p.name for p in pm.loaded]


def test_component_hook_that_raises_is_reported_not_fatal():
    class Raises:
        @hookimpl
        def lamina_compute_backends(self):
            raise OSError("cannot reach the registry")

    class WrongLayer:
        @hookimpl
        def lamina_orchestrators(self):
            return [ComponentSpec(layer="compute", name="x", config=_NoOptions,
                                  factory=lambda o, s: None)]

    pm = PluginManager(autoload=False)
    pm.register(Raises(), name="raises", distribution="acme-raises", version="1")
    pm.register(WrongLayer(), name="wrong")
    assert {c.name for c in pm.components_of("compute")} == {"local"}
    errors = {b.name: b.error for b in pm.broken}
    assert errors["raises"] == (
        "lamina_compute_backends() failed: OSError: cannot reach the registry"
    )
    assert "must be 'orchestrator'" in errors["wrong"]


def test_plugin_name_taken_twice_is_reported():
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError, match="already taken by lamina"):
        pm.register(object(), name="builtin")


def test_two_managers_share_nothing():
    a, b = PluginManager(autoload=False), PluginManager(autoload=False)
    a.register(_Serializers(7), name="extra")
    assert "s7" in [s.name for s in a.serializers()]
    assert "s7" not in [s.name for s in b.serializers()]
    assert b.plugin_info("extra") is None

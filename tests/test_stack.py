"""Stacks from config: choosing, resolving, validating, building lazily, and the errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import attrs
import pytest
from kernel_fixtures.helpers import fake_plugins  # noqa: F401  (session fixture)

from lamina import hookimpl
from lamina.errors import (
    ConfigError,
    MissingRequiredPluginError,
    PluginError,
    PluginNotInstalledError,
    StackNotFoundError,
)
from lamina.interfaces import ComponentSpec
from lamina.kernel.pluginmanager import PluginManager
from lamina.stack import Stack, load_stack


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    for var in ("LAMINA_STACK", "LAMINA_CONFIG", "LAMINA_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def good(monkeypatch, fake_plugins, tmp_path):  # noqa: F811
    """The well-behaved fake plugin is installed; its events go to a JSON-lines file."""
    monkeypatch.syspath_prepend(str(fake_plugins["good"]))
    log = tmp_path / "fake-good.jsonl"
    monkeypatch.setenv("FAKE_GOOD_LOG", str(log))

    def events() -> list[dict]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    return events


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lamina.toml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def builtin_only() -> PluginManager:
    return PluginManager(autoload=False)


# ---------------------------------------------------------------- the default stack


def test_embedded_default_stack_without_any_config(tmp_path):
    stack = Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert stack.name == "default" and stack.config_file is None
    assert stack.project_root == tmp_path.resolve()
    described = {d["layer"]: d for d in stack.describe()}
    assert {k: v["component"] for k, v in described.items()} == {
        "datastore": "file", "compute": "local", "orchestrator": "local", "metadata": "sqlite",
        "feature_store": None, "serving": None, "monitoring": None, "registry": None,
    }
    assert described["datastore"]["options"] == {"url": ".lamina", "verify_reads": True}
    assert described["metadata"]["options"]["path"] == ".lamina/metadata.db"
    assert described["datastore"]["distribution"] == "lamina"
    assert not stack.has("serving") and stack.has("compute")
    assert not (tmp_path / ".lamina").exists()  # describing builds nothing
    with pytest.raises(ConfigError, match="has no serving component"):
        stack.component("serving")


def test_layer_omitted_by_a_stack_gets_the_default(tmp_path):
    config(tmp_path, '[stacks.s]\ncompute = { plugin = "local", workers = 3 }\n')
    stack = load_stack(cwd=tmp_path, plugins=builtin_only())
    assert stack.options("compute").workers == 3
    assert stack.spec("datastore").name == "file"
    assert [d["origin"] for d in stack.describe()][:4] == ["default", "config", "default",
                                                           "default"]


# ---------------------------------------------------------------- choosing the stack


@pytest.fixture
def three(tmp_path):
    return config(
        tmp_path,
        """
        default_stack = "b"

        [stacks.a]
        compute = { plugin = "local", workers = 1 }

        [stacks.b]
        compute = { plugin = "local", workers = 2 }

        [stacks.c]
        compute = { plugin = "local", workers = 3 }
        """,
    )


def test_stack_choice_order(tmp_path, three):
    pm = builtin_only()
    assert Stack.load(cwd=tmp_path, plugins=pm, env={}).name == "b"
    assert Stack.load(cwd=tmp_path, plugins=pm, env={"LAMINA_STACK": "c"}).name == "c"
    assert Stack.load("a", cwd=tmp_path, plugins=pm, env={"LAMINA_STACK": "c"}).name == "a"
    assert Stack.load("a", cwd=tmp_path, plugins=pm).options("compute").workers == 1


def test_only_stack_is_chosen_and_ambiguity_is_an_error(tmp_path):
    config(tmp_path, "[stacks.solo]\n")
    assert Stack.load(cwd=tmp_path, plugins=builtin_only()).name == "solo"
    config(tmp_path, "[stacks.x]\n[stacks.y]\n")
    with pytest.raises(ConfigError, match=r"several stacks \(x, y\) and no default_stack"):
        Stack.load(cwd=tmp_path, plugins=builtin_only())


def test_unknown_stack(tmp_path, three):
    with pytest.raises(StackNotFoundError) as err:
        Stack.load("prdo", cwd=tmp_path, plugins=builtin_only(), env={})
    text = str(err.value)
    assert text.startswith("lamina.toml: stack 'prdo' (from the stack argument) is not defined")
    assert "Stacks: a, b, c" in text and "[stacks.prdo]" in text
    with pytest.raises(StackNotFoundError, match="environment variable LAMINA_STACK"):
        Stack.load(cwd=tmp_path, plugins=builtin_only(), env={"LAMINA_STACK": "zz"})


def test_unknown_stack_without_config(tmp_path):
    with pytest.raises(StackNotFoundError, match="no config file was found"):
        Stack.load("prod", cwd=tmp_path, plugins=builtin_only(), env={})


# ---------------------------------------------------------------- the error messages


def test_unknown_component_names_file_line_stack_key_and_fix(tmp_path):
    config(tmp_path, '[stacks.prod]\ndatastore = "file://.lamina"\ncompute = { plugin = "k8s" }\n')
    with pytest.raises(PluginNotInstalledError) as err:
        Stack.load("prod", cwd=tmp_path, plugins=builtin_only())
    assert err.value.message == (
        "lamina.toml:3: stack 'prod', compute: No compute component named 'k8s' is "
        "installed. Installed: local (lamina)."
    )
    assert err.value.hint == "pip install lamina-compute-k8s"


def test_datastore_url_whose_plugin_is_absent(tmp_path):
    config(tmp_path, '[stacks.prod]\n\ndatastore = "s3://bucket/prefix"\n')
    with pytest.raises(PluginNotInstalledError) as err:
        Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert err.value.message.startswith("lamina.toml:3: stack 'prod', datastore: No datastore")
    assert err.value.hint == "pip install lamina-datastore-s3"


def test_unknown_option(tmp_path):
    config(
        tmp_path,
        """
        [stacks.prod]
        compute = "local"
        datastore = { plugin = "file", url = ".lamina", verfy_reads = true }
        """,
    )
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert err.value.message == (
        "lamina.toml:3: stack 'prod', datastore (plugin 'file'): unknown option "
        "'verfy_reads' (did you mean 'verify_reads'?). Options: url, verify_reads"
    )


def test_wrong_type_in_a_sub_table(tmp_path):
    config(
        tmp_path,
        """
        [stacks.prod.compute]
        plugin = "local"

        workers = "four"
        """,
    )
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert err.value.message == (
        "lamina.toml:4: stack 'prod', compute (plugin 'local'): option 'workers' must be an "
        "integer, got 'four' (string)"
    )
    assert "how many worker processes" in err.value.hint


def test_attrs_validator_runs(tmp_path):
    config(tmp_path, '[stacks.s]\norchestrator = { plugin = "local", progress = "loud" }\n')
    with pytest.raises(ConfigError, match=r"lamina.toml:2: stack 's', orchestrator \(plugin "
                       r"'local'\): invalid value for 'progress'"):
        Stack.load(cwd=tmp_path, plugins=builtin_only())


def test_missing_required_plugin(tmp_path):
    config(tmp_path, 'required_plugins = ["lamina-audit-log>=0.1"]\n')
    with pytest.raises(MissingRequiredPluginError) as err:
        Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert err.value.message == (
        "lamina.toml:1: Missing required plugins: lamina-audit-log>=0.1 (installed: none)"
    )
    assert err.value.hint == "pip install 'lamina-audit-log>=0.1'"


def test_required_plugin_too_old_and_satisfied(tmp_path):
    config(tmp_path, 'required_plugins = ["lamina>=99"]\n')
    with pytest.raises(MissingRequiredPluginError, match=r"installed: lamina 0\.1"):
        Stack.load(cwd=tmp_path, plugins=builtin_only())
    config(tmp_path, 'required_plugins = ["lamina>=0.1,<99"]\n')
    assert Stack.load(cwd=tmp_path, plugins=builtin_only()).name == "default"


def test_missing_environment_variable(tmp_path):
    config(tmp_path, '[stacks.s]\ndatastore = { plugin = "file", url = "${LAMINA_T_URL}" }\n')
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path, plugins=builtin_only(), env={})
    assert "lamina.toml:2: stack 's', datastore (plugin 'file'): option 'url' uses the " \
        "environment variable LAMINA_T_URL" in str(err.value)
    assert "lamina.secrets.toml" in err.value.hint
    stack = Stack.load(cwd=tmp_path, plugins=builtin_only(), env={"LAMINA_T_URL": "memory://z"})
    assert stack.options("datastore").url == "memory://z"
    assert stack.describe()[0]["options"]["url"] == "****"


def test_secrets_file_values_are_masked(tmp_path):
    config(tmp_path, '[stacks.s]\ndatastore = { plugin = "file" }\n')
    (tmp_path / "lamina.secrets.toml").write_text('[stacks.s.datastore]\nurl = "memory://s"\n')
    stack = Stack.load(cwd=tmp_path, plugins=builtin_only())
    assert stack.options("datastore").url == "memory://s"
    assert stack.describe()[0]["options"]["url"] == "****"


def test_two_plugins_claiming_one_name_fail_the_stack(tmp_path, monkeypatch, fake_plugins):  # noqa: F811
    monkeypatch.syspath_prepend(str(fake_plugins["dup_a"]))
    monkeypatch.syspath_prepend(str(fake_plugins["dup_b"]))
    config(tmp_path, '[stacks.s]\ncompute = "twin"\n')
    with pytest.raises(PluginError) as err:
        Stack.load(cwd=tmp_path)
    assert "lamina.toml:2: stack 's', compute: Two plugins offer the compute component " \
        "'twin'" in str(err.value)
    config(tmp_path, 'disable_plugins = ["dupa"]\n[stacks.s]\ncompute = "twin"\n')
    assert Stack.load(cwd=tmp_path).spec("compute").distribution == "lamina-fake-dup-b"


# ---------------------------------------------------------------- a third-party component


def test_plugin_component_is_validated_before_built_and_built_once(tmp_path, good):
    config(
        tmp_path,
        """
        [stacks.s]
        compute = { plugin = "fakecompute", queue = "q1", slots = 2 }

        [plugins.fakegood]
        greeting = "hi"
        """,
    )
    stack = Stack.load(cwd=tmp_path)
    assert stack.spec("compute").distribution == "lamina-fake-good"
    stack.describe()
    assert stack.validate() == []
    assert good() == [{"event": "configure", "stack": "s", "options": {"greeting": "hi"}}]
    comp = stack.compute
    assert stack.component("compute") is comp and comp.options.slots == 2
    stack.close()
    assert [e["event"] for e in good()] == ["configure", "built", "closed"]


def test_plugin_component_missing_required_option(tmp_path, good):
    config(tmp_path, '[stacks.s]\ncompute = "fakecompute"\n')
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path)
    assert "stack 's', compute (plugin 'fakecompute'): missing required option 'queue'" in str(
        err.value
    )
    assert err.value.hint == "queue: the queue to submit to."
    assert good() == []  # nothing of the plugin ran, not even lamina_configure


def test_validate_and_check(tmp_path, good):
    config(tmp_path, '[stacks.s]\ncompute = { plugin = "fakecompute", queue = "forbidden", '
                     'reachable = false }\n')
    stack = Stack.load(cwd=tmp_path, env={})
    assert stack.validate() == [
        "compute fakecompute: queue 'forbidden' may not be used; choose another"
    ]
    results = stack.check()
    ok, message = results["compute"]
    assert not ok and "fake queue 'forbidden' is unreachable" in message
    assert set(results) == {"datastore", "compute", "orchestrator", "metadata"}
    stack.close()


def test_compute_overrides(tmp_path, good):
    config(
        tmp_path,
        """
        [stacks.s]
        compute = "local"

        [stacks.s.compute_overrides.fakecompute]
        queue = "gpu"

        [stacks.s.compute_overrides.nosuchengine]
        namespace = "ml"
        """,
    )
    stack = Stack.load(cwd=tmp_path)
    problems = stack.validate()
    assert len(problems) == 1 and "compute_overrides.nosuchengine" in problems[0]
    assert "lamina plugins" in problems[0]
    fake = stack.compute_for("fakecompute")
    assert fake.options.queue == "gpu" and stack.compute_for("fakecompute") is fake
    with pytest.raises(PluginNotInstalledError, match="compute 'nosuchengine'"):
        stack.compute_for("nosuchengine")
    stack.close()


def test_bad_compute_override_options_fail_at_load(tmp_path, good):
    config(tmp_path, '[stacks.s.compute_overrides.fakecompute]\nqueue = 1\n')
    with pytest.raises(ConfigError, match=r"compute_overrides\.fakecompute \(plugin 'fakecompute'\): "
                       r"option 'queue' must be a string"):
        Stack.load(cwd=tmp_path)


def test_options_for_unknown_plugin_table(tmp_path):
    config(tmp_path, "[plugins.fakegod]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"lamina.toml:1: \[plugins.fakegod\] names no loaded"):
        Stack.load(cwd=tmp_path, plugins=builtin_only())


@attrs.frozen
class _VaultOptions:
    url: str = "memory://vault"
    secret_key: str = ""


class _VaultPlugin:
    @hookimpl
    def lamina_datastores(self):
        return [ComponentSpec(layer="datastore", name="vault", config=_VaultOptions,
                              factory=lambda o, s: None, url_schemes=("vault",))]


def test_literal_credential_is_reported_and_references_are_masked(tmp_path):
    pm = builtin_only()
    pm.register(_VaultPlugin(), name="vault")
    config(tmp_path, '[stacks.s]\ndatastore = { plugin = "vault", secret_key = "hunter2" }\n')
    stack = Stack.load(cwd=tmp_path, plugins=pm)
    (problem,) = stack.validate()
    assert problem.startswith("lamina.toml:2: stack 's', datastore: option 'secret_key' holds "
                              "a literal credential")
    assert stack.describe()[0]["options"]["secret_key"] == "****"
    config(tmp_path, '[stacks.s]\ndatastore = { plugin = "vault", secret_key = "${VK}" }\n')
    stack = Stack.load(cwd=tmp_path, plugins=pm, env={"VK": "hunter2"})
    assert stack.validate() == []
    assert stack.options("datastore").secret_key == "hunter2"


# ---------------------------------------------------------------- paths and URLs


def test_resolve_path(tmp_path):
    (tmp_path / "sub").mkdir()
    config(tmp_path, "[stacks.s]\n")
    stack = Stack.load(cwd=tmp_path / "sub", plugins=builtin_only())
    root = tmp_path.resolve()
    assert stack.project_root == root
    assert stack.resolve_path(".lamina") == str(root / ".lamina")
    assert stack.resolve_path("file://.lamina") == str(root / ".lamina")
    assert stack.resolve_path("/abs/x") == "/abs/x"
    assert stack.resolve_path("s3://b/p") == "s3://b/p"
    assert stack.resolve_path("file:///abs/x") == "file:///abs/x"


def test_for_datastore_url(tmp_path):
    stack = Stack.for_datastore_url("memory://runs", cwd=tmp_path, plugins=builtin_only())
    assert stack.spec("datastore").name == "file"
    assert stack.options("datastore").url == "memory://runs"
    assert stack.spec("compute").name == "local" and stack.spec("metadata").name == "sqlite"
    with pytest.raises(PluginNotInstalledError, match="lamina-datastore-s3"):
        Stack.for_datastore_url("s3://b/p", plugins=builtin_only())


def test_two_stacks_in_one_process_are_independent(tmp_path, three):
    a = Stack.load("a", cwd=tmp_path, plugins=builtin_only())
    c = Stack.load("c", cwd=tmp_path, plugins=builtin_only())
    assert (a.options("compute").workers, c.options("compute").workers) == (1, 3)
    assert a.plugins is not c.plugins


class _Picky:
    @hookimpl
    def lamina_configure(self, stack):
        if stack.plugin_options("picky").get("mode") != "strict":
            raise ConfigError("mode must be 'strict'", hint='mode = "strict"')


def test_plugin_configure_error_is_located(tmp_path):
    pm = builtin_only()
    pm.register(_Picky(), name="picky")
    config(tmp_path, '[plugins.picky]\nmode = "lax"\n')
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path, plugins=pm)
    assert err.value.message == "lamina.toml:1: plugin 'picky': mode must be 'strict'"
    assert err.value.hint == 'mode = "strict"'
    config(tmp_path, '[plugins.picky]\nmode = "strict"\n')
    assert Stack.load(cwd=tmp_path, plugins=pm).name == "default"


@attrs.frozen
class _AuditOptions:
    """:param path: where the log goes.
    :param level: how much to log."""

    path: str = "audit.jsonl"
    level: int = attrs.field(default=1, validator=attrs.validators.in_((1, 2)))


class _Declares:
    seen: list = []

    @hookimpl
    def lamina_plugin_options(self):
        return _AuditOptions

    @hookimpl
    def lamina_configure(self, stack):
        self.seen.append(stack.plugin_options("declares"))


def test_declared_plugin_options_are_validated_like_component_options(tmp_path):
    pm = builtin_only()
    pm.register(_Declares(), name="declares")
    config(tmp_path, '[plugins.declares]\npth = "x.jsonl"\n')
    with pytest.raises(ConfigError) as err:
        Stack.load(cwd=tmp_path, plugins=pm)
    assert err.value.message.startswith("lamina.toml:2: [plugins.declares]: unknown option 'pth'")
    assert "did you mean 'path'" in str(err.value)
    config(tmp_path, '[plugins.declares]\nlevel = 3\n')
    with pytest.raises(ConfigError, match=r"lamina.toml:2: \[plugins.declares\]: .*level"):
        Stack.load(cwd=tmp_path, plugins=pm)
    config(tmp_path, '[plugins.declares]\npath = "${AUDIT_PATH}"\n')
    stack = Stack.load(cwd=tmp_path, plugins=pm, env={"AUDIT_PATH": "a.jsonl"})
    assert stack.plugin_options("declares") == _AuditOptions(path="a.jsonl")
    assert _Declares.seen[-1] == _AuditOptions(path="a.jsonl")
    with pytest.raises(PluginError, match="did you mean 'declares'"):
        stack.plugin_options("declare")


def test_configure_is_historic_a_late_plugin_is_configured_too(tmp_path):
    pm = builtin_only()
    stack = Stack.load(cwd=tmp_path, plugins=pm)
    seen = []

    class Late:
        @hookimpl
        def lamina_configure(self, stack):
            seen.append((stack.name, stack.plugin_options("late")))

    with pytest.raises(PluginError, match="No plugin named 'late'"):
        stack.plugin_options("late")
    pm.register(Late(), name="late")
    assert seen == [("default", {})]  # configured at once, with the stack loaded before

"""Finding and reading config files, option validation, secrets, requirement specifiers."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal

import attrs
import pytest

from lamina.config import find_config_file, load_config
from lamina.config.options import OptionError, build_options, options_to_dict
from lamina.config.secrets import MissingVariable, expand, looks_secret
from lamina.errors import ConfigError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # error messages show the config file relative to the working directory
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# ---------------------------------------------------------------- finding the file


def test_no_config_anywhere_gives_empty_config(tmp_path):
    cfg = load_config(cwd=tmp_path, env={})
    assert cfg.source is None and cfg.stacks == {} and cfg.path is None


def test_found_by_walking_up(tmp_path):
    conf = write(tmp_path / "lamina.toml", "[stacks.a]\n")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_config_file(deep) == conf
    assert list(load_config(cwd=deep, env={}).stacks) == ["a"]


def test_pyproject_without_tool_lamina_is_skipped(tmp_path):
    write(tmp_path / "lamina.toml", "[stacks.outer]\n")
    write(tmp_path / "sub" / "pyproject.toml", "[project]\nname = 'x'\n[tool.ruff]\n")
    assert find_config_file(tmp_path / "sub") == tmp_path / "lamina.toml"


def test_pyproject_tool_lamina_is_used_and_lamina_toml_wins(tmp_path):
    py = write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "x"

        [tool.lamina]
        default_stack = "dev"

        [tool.lamina.stacks.dev]
        compute = { plugin = "local", workers = 2 }
        """,
    )
    cfg = load_config(cwd=tmp_path, env={})
    assert cfg.path == py and cfg.default_stack == "dev"
    assert cfg.where(("stacks", "dev", "compute", "workers")) == f"{cfg.source.display}:8"
    write(tmp_path / "lamina.toml", "[stacks.other]\n")
    assert list(load_config(cwd=tmp_path, env={}).stacks) == ["other"]


def test_explicit_file_and_env_var(tmp_path):
    write(tmp_path / "elsewhere" / "my.toml", "[stacks.x]\n")
    assert list(load_config(cwd=tmp_path, config_file="elsewhere/my.toml", env={}).stacks) == [
        "x"
    ]
    env = {"LAMINA_CONFIG": str(tmp_path / "elsewhere" / "my.toml")}
    assert list(load_config(cwd=tmp_path, env=env).stacks) == ["x"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(cwd=tmp_path, config_file="nope.toml", env={})


# ---------------------------------------------------------------- shape errors


def test_toml_syntax_error_names_file_and_line(tmp_path):
    write(tmp_path / "lamina.toml", "[stacks.a]\ndatastore = \n")
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path, env={})
    assert "lamina.toml: not valid TOML" in str(err.value) and "line 2" in str(err.value)


def test_unknown_top_level_key(tmp_path):
    write(tmp_path / "lamina.toml", '# project config\n\ndefault_stak = "a"\n')
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path, env={})
    assert str(err.value).startswith(
        "lamina.toml:3: unknown key 'default_stak' (did you mean 'default_stack'?)"
    )


def test_unknown_layer_in_stack(tmp_path):
    write(
        tmp_path / "lamina.toml",
        """
        [stacks.prod]
        datastore = "file://.lamina"
        computer = "local"
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path, env={})
    assert "lamina.toml:3: stack 'prod': unknown key 'computer' (did you mean 'compute'?)" in str(
        err.value
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("compute = 3", "compute: must be a component name, a URL or a table, got an integer"),
        ('compute = "k8s://x"', "a URL ('k8s://x') only chooses a datastore"),
        ("compute = { workers = 2 }", "no 'plugin' key says which component to use"),
        ("datastore = { verify_reads = true }", "no 'plugin' key"),
    ],
)
def test_component_value_shape(tmp_path, line, expected):
    write(tmp_path / "lamina.toml", f"[stacks.s]\n{line}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path, env={})
    assert str(err.value).startswith("lamina.toml:2: stack 's', ")
    assert expected in str(err.value)


def test_lists_must_hold_strings(tmp_path):
    write(tmp_path / "lamina.toml", "required_plugins = 'lamina-x'\n")
    with pytest.raises(ConfigError, match=r"lamina\.toml:1: required_plugins must be an array"):
        load_config(cwd=tmp_path, env={})


def test_component_forms(tmp_path):
    write(
        tmp_path / "lamina.toml",
        """
        [stacks.s]
        datastore = "file://.lamina"
        compute = "local"
        orchestrator = { plugin = "local", fail_fast = false }
        metadata = { plugin = "sqlite" }

        [stacks.s.compute_overrides.k8s]
        namespace = "ml"
        """,
    )
    s = load_config(cwd=tmp_path, env={}).stacks["s"]
    ds = s.components["datastore"]
    assert (ds.plugin, ds.url, ds.options) == (None, "file://.lamina", {"url": "file://.lamina"})
    assert (s.components["compute"].plugin, s.components["compute"].options) == ("local", {})
    assert s.components["orchestrator"].options == {"fail_fast": False}
    assert s.compute_overrides == {"k8s": {"namespace": "ml"}}


# ---------------------------------------------------------------- options


@attrs.frozen
class Opts:
    """Test options.

    :param name: the name.
    :param workers: how many workers.
    """

    name: str
    workers: int | None = attrs.field(default=None)
    ratio: float = 0.5
    enabled: bool = True
    mode: Literal["a", "b"] = "a"
    tags: list[str] = attrs.field(factory=list)
    level: int = attrs.field(default=1, validator=attrs.validators.ge(1))


def test_build_options_accepts_exact_types():
    o = build_options(Opts, {"name": "x", "workers": 4, "ratio": 1, "tags": ["a"], "mode": "b"})
    assert o == Opts(name="x", workers=4, ratio=1.0, tags=["a"], mode="b")
    assert isinstance(o.ratio, float)
    assert options_to_dict(o)["tags"] == ["a"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "x", "workrs": 2},
         "unknown option 'workrs' (did you mean 'workers'?). Options: name, workers, ratio, "
         "enabled, mode, tags, level"),
        ({"name": "x", "workers": "4"}, "option 'workers' must be an integer, got '4' (string)"),
        ({"name": "x", "workers": 2.5}, "option 'workers' must be an integer, got 2.5 (float)"),
        ({"name": "x", "workers": True}, "option 'workers' must be an integer, got True"),
        ({"name": "x", "enabled": "no"}, "option 'enabled' must be true or false, got 'no'"),
        ({"name": "x", "mode": "c"}, "option 'mode' must be one of 'a', 'b', got 'c'"),
        ({"name": "x", "tags": ["a", 1]}, "option 'tags' must be a list of strings"),
        ({"name": 3}, "option 'name' must be a string, got 3 (integer)"),
        ({}, "missing required option 'name'"),
        ({"name": "x", "level": 0}, "invalid value for 'level'"),
    ],
)
def test_build_options_rejects(raw, message):
    with pytest.raises(OptionError) as err:
        build_options(Opts, raw)
    assert message in err.value.message


def test_option_error_hint_comes_from_the_docstring():
    with pytest.raises(OptionError) as err:
        build_options(Opts, {"name": "x", "workers": "many"})
    assert err.value.key == "workers"
    assert err.value.hint == "workers: how many workers."


def test_option_error_is_a_config_error_a_host_can_catch():
    import lamina.errors

    assert lamina.errors.OptionError is OptionError
    with pytest.raises(ConfigError) as err:  # what a host embedding lamina catches
        build_options(Opts, {"name": "x", "workrs": 2})
    assert isinstance(err.value, lamina.errors.LaminaError)
    assert err.value.key == "workrs"
    assert err.value.message.startswith("unknown option 'workrs' (did you mean 'workers'?)")
    assert str(err.value) == f"{err.value.message}\n  fix: {err.value.hint}"


# ---------------------------------------------------------------- secrets


def test_expand_env_references():
    env = {"A": "1", "B": "two"}
    assert expand({"x": "${A}-${B}", "y": ["${A}"], "z": 3}, env) == {
        "x": "1-two", "y": ["1"], "z": 3
    }
    assert expand("${MISSING:-fallback}", env) == "fallback"
    with pytest.raises(MissingVariable) as err:
        expand("${NOPE}", env)
    assert err.value.name == "NOPE"


def test_secret_names():
    assert looks_secret("aws_secret_access_key") and looks_secret("password")
    assert looks_secret("api_token") and looks_secret("access_key")
    assert not looks_secret("url") and not looks_secret("region")


def test_secrets_file_is_merged_and_recorded(tmp_path):
    write(
        tmp_path / "lamina.toml",
        """
        [stacks.s]
        datastore = { plugin = "file", url = "memory://public" }
        """,
    )
    write(tmp_path / "lamina.secrets.toml", '[stacks.s.datastore]\nurl = "memory://hidden"\n')
    cfg = load_config(cwd=tmp_path, env={})
    assert cfg.stacks["s"].components["datastore"].options["url"] == "memory://hidden"
    assert ("stacks", "s", "datastore", "url") in cfg.secret_keys
    assert cfg.secrets_file == tmp_path / "lamina.secrets.toml"


# ---------------------------------------------------------------- the reference docs


def test_configuration_reference_is_generated_from_the_option_classes():
    from lamina.config.reference import BEGIN, END, render, update_block
    from lamina.kernel.pluginmanager import PluginManager

    doc = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    text = doc.read_text(encoding="utf-8")
    pm = PluginManager(autoload=False)
    data = [(s, pm.data_source_distribution(s.name)) for s in pm.data_sources()]
    block = render(pm.components(), None, data)
    assert "### data source: `sqlite` (lamina)" in block
    assert "| `verify_reads` | `bool` | `true` |" in block
    assert BEGIN in text and END in text
    assert update_block(text, block) == text, (
        "docs/configuration.md is stale: run python -m lamina.config.reference --builtin "
        "--update docs/configuration.md"
    )

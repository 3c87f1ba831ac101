"""Config defects of the hardening trials (defect 10), then Hypothesis over option values:
every bad value is a one-line ConfigError naming the file and the option, never an attrs
repr, never a secret's value."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.config.secrets import BadReference, MissingVariable, expand
from lamina.errors import ConfigError, ConfigWarning
from lamina.kernel.pluginmanager import PluginManager
from lamina.stack import Stack

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


_PLUGINS: list[PluginManager] = []


def _load(root: Path, toml: str, secrets: str | None = None, **env: str) -> Stack:
    (root / "lamina.toml").write_text(toml)
    if secrets is not None:
        (root / "lamina.secrets.toml").write_text(secrets)
    if not _PLUGINS:
        _PLUGINS.append(PluginManager())
    return Stack.load(cwd=root, env=env, plugins=_PLUGINS[0])


@pytest.mark.parametrize("path", ["./store", "store/sub", "../outside/store", "~/lamina-x"])
def test_a_bare_path_is_the_file_datastore(tmp_path: Path, path: str) -> None:
    stack = _load(tmp_path, f'[stacks.a]\ndatastore = "{path}"\n')
    assert stack.spec("datastore").name == "file"
    expected = Path(path).expanduser() if path.startswith("~") else tmp_path / path
    assert Path(stack.options("datastore").url).expanduser().resolve() == expected.resolve() \
        or Path(stack.resolve_path(stack.options("datastore").url)).resolve() == expected.resolve()


def test_an_error_in_the_secrets_file_is_blamed_on_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[stacks.a]\ndatastore = { plugin = "file", url = "x" }\n',
              '# kept out of git\n\n[stacks.a.datastore]\nverify_reads = "on"\n')
    message = str(info.value)
    assert message.startswith("lamina.secrets.toml:4:") or "lamina.secrets.toml:4:" in message
    assert "'on'" not in message  # a value from the secrets file is never shown


def test_a_secrets_table_for_an_unknown_stack_is_a_warning_naming_it(tmp_path: Path) -> None:
    with pytest.warns(ConfigWarning, match=r"\[stacks.gone\] is not a stack of .*lamina.toml"):
        stack = _load(tmp_path, '[stacks.a]\ndatastore = "./store"\n',
                      '[stacks.gone.metadata]\npassword = "pw"\n')
    assert stack.name == "a" and stack.spec("metadata").name == "sqlite"


def test_an_attrs_validator_message_has_no_attribute_repr(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[stacks.a]\ndatastore = { plugin = "s3", url = "s3://b/p", '
                        'addressing_style = "zz" }\n')
    message = str(info.value)
    assert "Attribute(" not in message and "\n" not in message.split("  fix:")[0].strip()
    assert "'addressing_style' must be in ('auto', 'path', 'virtual')" in message


@pytest.mark.parametrize("text", ["${HOME", "x${", "${}", "${1A}", "${A:-x"])
def test_an_unclosed_reference_is_an_error_naming_the_option(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"lamina.toml:2: .*option 'url' holds") as info:
        _load(tmp_path, f'[stacks.a]\ndatastore = {{ plugin = "file", url = "{text}" }}\n',
              HOME="/root")
    assert "${VAR}" in info.value.hint


def _toml(value: object) -> str:
    """A TOML literal for the generated values (JSON's strings are TOML's, DEL escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return repr(value)


_values = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.sampled_from(["${SECRETVAL}", "${SECRETVAL", "x${SECRETVAL}y", "${NOPE}", "$${X}"]),
)
_TOML_SAFE = st.sampled_from(["url", "verify_reads", "fsync", "hardlinks", "unknown_key"])


@given(key=_TOML_SAFE, value=_values)
@FUZZ
def test_any_option_value_loads_or_is_a_one_line_config_error(tmp_path: Path, key: str,
                                                              value: object) -> None:
    text = f'[stacks.a]\ndatastore = {{ plugin = "file", {key} = {_toml(value)} }}\n'
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _load(tmp_path, text, SECRETVAL="hunter2-secret")
    except ConfigError as exc:
        message = str(exc)
        assert message.split(": ")[0].endswith(("lamina.toml", "lamina.toml:2")), message
        assert "Attribute(" not in message and "hunter2-secret" not in message
        assert exc.hint is None or "hunter2-secret" not in exc.hint


@given(st.text(max_size=40), st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,5}", fullmatch=True),
                                            st.text(alphabet="abc/:@ ", max_size=8), max_size=3))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_expand_leaves_no_reference_or_says_why(text: str, env: dict[str, str]) -> None:
    try:
        out = expand(text, env)
    except (BadReference, MissingVariable):
        return
    assert "${" not in out or "${" in "".join(env.values())


@pytest.mark.parametrize(("line", "said"), [
    ('allow_pickle = "sometimes"', 'allow_pickle must be "trusted", "always" or "never"'),
    ('trusted_namespaces = "user:x"', "trusted_namespaces must be an array"),
])
def test_the_trust_setting_is_validated(tmp_path: Path, line: str, said: str) -> None:
    with pytest.raises(ConfigError, match=r"lamina\.toml:3: ") as info:
        _load(tmp_path, f'[stacks.a]\ndatastore = "./store"\n{line}\n')
    assert said in str(info.value)


def test_the_trust_setting_defaults_and_additions(tmp_path: Path) -> None:
    (tmp_path / "lamina.toml").write_text(
        'project = "churn"\n[stacks.a]\ndatastore = "./store"\n'
        'trusted_namespaces = ["user:ali*"]\n')
    stack = Stack.load(cwd=tmp_path, env={"LAMINA_USER": "bob"})
    trust = stack.trust
    assert trust.trusts("project:churn/branch:prod") and trust.trusts("user:alice")
    assert trust.trusts(f"user:{stack.branch.user}")
    assert not trust.trusts("user:carol") and not trust.trusts("project:other/branch:x")

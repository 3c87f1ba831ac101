"""The plugin as lamina sees it: found by entry point and by URL scheme, options validated
before any S3 code runs, secrets masked, nothing heavy imported by the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamina.errors import ConfigError
from lamina.stack import Stack


def load(tmp_path: Path, toml: str, **env: str) -> Stack:
    (tmp_path / "lamina.toml").write_text(toml)
    return Stack.load(cwd=tmp_path, env=env)


def test_a_bare_s3_url_finds_the_plugin(tmp_path) -> None:
    stack = load(tmp_path, '[stacks.s]\ndatastore = "s3://bucket/prefix"\n')
    assert stack.spec("datastore").name == "s3"
    assert stack.spec("datastore").distribution == "lamina-datastore-s3"
    assert stack.options("datastore").url == "s3://bucket/prefix"


def test_for_datastore_url_builds_an_s3_datastore_without_config(tmp_path) -> None:
    stack = Stack.for_datastore_url("s3://bucket/p?endpoint_url=http://127.0.0.1:9&sse=AES256",
                                    cwd=tmp_path, env={})
    datastore = stack.datastore  # built, nothing contacted yet
    assert datastore.location.bucket == "bucket" and datastore.location.prefix == "p"
    assert datastore.options.endpoint_url == "http://127.0.0.1:9"
    assert datastore.options.sse == "AES256"


@pytest.mark.parametrize(("option", "message"), [
    ('sse = "AES"', "sse"),
    ('sse_kms_key_id = "k"', 'sse = "aws:kms"'),
    ("multipart_chunksize = 1024", "multipart_chunksize must be >= 5242880"),
    ("retries = 0", "retries must be >= 1"),
    ('storage_class = "COLD"', "storage_class"),
    ("max_concurency = 4", "max_concurrency"),
])
def test_bad_options_are_reported_with_their_place(tmp_path, option, message) -> None:
    toml = f'[stacks.s]\ndatastore = {{ plugin = "s3", url = "s3://b/p", {option} }}\n'
    with pytest.raises(ConfigError) as err:
        load(tmp_path, toml)
    assert message in str(err.value) and "lamina.toml" in str(err.value)


def test_a_url_without_bucket_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="s3://BUCKET/PREFIX"):
        load(tmp_path, '[stacks.s]\ndatastore = { plugin = "s3", url = "s3://" }\n')


def test_secrets_come_from_the_environment_and_are_masked(tmp_path) -> None:
    toml = ('[stacks.s]\ndatastore = { plugin = "s3", url = "s3://b/p", '
            'access_key_id = "${KEY_ID}", secret_access_key = "${SECRET}" }\n')
    stack = load(tmp_path, toml, KEY_ID="AKIAEXAMPLE", SECRET="very-secret")
    assert stack.options("datastore").secret_access_key == "very-secret"
    shown = stack.describe()[0]["options"]
    assert shown["secret_access_key"] == "****" and "very-secret" not in repr(stack.describe())
    assert not any("literal credential" in p for p in stack.validate())
    literal = load(tmp_path, toml.replace("${SECRET}", "very-secret"), KEY_ID="A")
    assert any("secret_access_key" in p and "literal credential" in p
               for p in literal.validate())


def test_the_cli_stays_light() -> None:
    code = ("import sys, runpy; sys.argv=['lamina','--help']\n"
            "try:\n    runpy.run_module('lamina', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "bad = [m for m in ('boto3', 'botocore', 's3transfer') if m in sys.modules]\n"
            "print('HEAVY', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60).stdout
    assert "HEAVY []" in out


def test_plugins_lists_it(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "lamina", "plugins"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60).stdout
    assert "s3" in out and "lamina-datastore-s3" in out

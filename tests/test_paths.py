"""Paths and file URLs as configs give them, Windows-style ones included: drive letters,
backslashes, UNC shares, percent escapes; the rules of both platforms are checked here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina import Stack
from lamina.builtin.file_datastore import FileDatastore
from lamina.config.paths import (
    file_url_to_path,
    is_absolute_path,
    is_windows_path,
    local_path,
    portable_name_problem,
    split_scheme,
)

WINDOWS_CASES = [
    # (as written, base, what Windows makes of it)
    ("C:\\Users\\me\\.lamina", "D:\\proj", "C:\\Users\\me\\.lamina"),
    ("C:/Users/me/.lamina", "D:\\proj", "C:\\Users\\me\\.lamina"),
    ("file:///C:/Users/me/.lamina", "D:\\proj", "C:\\Users\\me\\.lamina"),
    ("file://C:\\Users\\me\\.lamina", "D:\\proj", "C:\\Users\\me\\.lamina"),
    ("file://localhost/C:/My%20Data/store", "D:\\proj", "C:\\My Data\\store"),
    ("file:///c|/legacy", "D:\\proj", "c:\\legacy"),
    ("\\\\server\\share\\lamina", "D:\\proj", "\\\\server\\share\\lamina"),
    ("file:////server/share/lamina", "D:\\proj", "\\\\server\\share\\lamina"),
    (".lamina", "D:\\proj", "D:\\proj\\.lamina"),
    ("file://.lamina", "D:\\proj", "D:\\proj\\.lamina"),
    ("data\\..\\store", "D:\\proj", "D:\\proj\\store"),
    ("local://C:/x", "D:\\proj", "C:\\x"),
]

POSIX_CASES = [
    ("/srv/lamina", "/proj", "/srv/lamina"),
    ("file:///srv/lamina", "/proj", "/srv/lamina"),
    ("file://localhost/srv/my%20store", "/proj", "/srv/my store"),
    ("file://.lamina", "/proj", "/proj/.lamina"),
    (".lamina", "/proj", "/proj/.lamina"),
    ("data/../store", "/proj", "/proj/store"),
    ("local:///srv/x", "/proj", "/srv/x"),
]


@pytest.mark.parametrize(("written", "base", "expected"), WINDOWS_CASES)
def test_windows_paths_and_file_urls_parse(written, base, expected):
    assert local_path(written, base, windows=True) == expected
    assert is_absolute_path(expected, windows=True)


@pytest.mark.parametrize(("written", "base", "expected"), POSIX_CASES)
def test_posix_paths_and_file_urls_parse(written, base, expected):
    assert local_path(written, base, windows=False) == expected


@pytest.mark.parametrize("url", ["s3://bucket/lamina", "gs://b/x", "memory://x", "S3://b/x"])
def test_urls_of_other_schemes_are_not_local_paths(url):
    assert local_path(url, "/proj", windows=False) is None
    assert local_path(url, "C:\\proj", windows=True) is None
    assert split_scheme(url)[0] == url.split(":")[0].lower()


def test_a_drive_letter_is_never_a_url_scheme():
    for text in ("C:\\data", "C:/data", "c://data", "C|/data"):
        assert split_scheme(text) == ("", text)
        assert is_windows_path(text)
    assert not is_windows_path("/data") and not is_windows_path("s3://b")
    assert not is_absolute_path("C:data", windows=True)  # drive-relative: not absolute
    assert is_absolute_path("\\\\srv\\share\\x", windows=True)
    assert not is_absolute_path("C:\\x", windows=False)


def test_file_url_to_path_keeps_relative_paths_relative():
    assert file_url_to_path("file://.lamina", windows=False) == ".lamina"
    assert file_url_to_path("file:///C:/My%20Data", windows=True) == "C:/My Data"
    with pytest.raises(ValueError, match="not a file URL"):
        file_url_to_path("s3://bucket/x")


def test_the_file_datastore_opens_a_percent_escaped_file_url(tmp_path):
    folder = tmp_path / "my store"
    ds = FileDatastore(folder.as_uri())  # file:///.../my%20store, as Path.as_uri writes it
    ds.put_record("runs/r/run.json", b"{}")
    assert (folder / "runs" / "r" / "run.json").read_bytes() == b"{}"
    assert ds.root == str(folder)


def test_config_takes_a_windows_datastore_path_and_file_url(project: Path):
    (project / "lamina.toml").write_text(
        "[stacks.win]\n"
        "datastore = 'C:\\Users\\me\\.lamina'\n"
        "[stacks.url]\n"
        "datastore = 'file:///C:/Users/me/.lamina'\n"
        "[stacks.table]\n"
        "datastore = { plugin = 'file', url = 'D:\\data\\lamina' }\n"
    )
    for name, url in (("win", "C:\\Users\\me\\.lamina"), ("url", "file:///C:/Users/me/.lamina"),
                      ("table", "D:\\data\\lamina")):
        stack = Stack.load(name)
        assert stack.spec("datastore").name == "file"  # a drive letter is not a scheme
        assert stack.options("datastore").url == url
        # as Windows resolves it: absolute, on its own drive, whatever the project folder
        resolved = local_path(url, "E:\\project", windows=True)
        assert resolved is not None and is_absolute_path(resolved, windows=True)
        assert resolved[0] in "CD" and resolved.endswith("lamina")


def test_stack_resolves_relative_paths_and_file_urls_from_the_project_root(project: Path):
    stack = Stack.load()
    root = str(stack.project_root)
    assert stack.resolve_path("file://.lamina") == os.path.join(root, ".lamina")
    assert stack.resolve_path("data/store") == os.path.join(root, "data", "store")
    assert stack.resolve_path("file:///srv/x") == "file:///srv/x"
    assert stack.resolve_path("s3://b/x") == "s3://b/x"


@pytest.mark.parametrize(
    ("name", "why"),
    [("train:v2", "':'"), ("aux", "device name"), ("CON.json", "device name"), ("com1", "device"),
     ("a?", "'?'"), ("a*b", "'*'"), ("x.", "ends with"), ("tab\there", "Windows does not allow"),
     ("", "empty")],
)
def test_names_windows_refuses_are_reported(name, why):
    problem = portable_name_problem(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize("name", ["train", "train_v2", "aux_data", "console", "com10", "0.json",
                                  "données", "a.b-c"])
def test_portable_names_pass(name):
    assert portable_name_problem(name) is None

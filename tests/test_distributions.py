"""The one reader of installed distributions, compared with :mod:`importlib.metadata` on
this environment and on folders holding really installed fixture distributions."""

from __future__ import annotations

import importlib.metadata as md
import shutil
from pathlib import Path

import pytest
from kernel_fixtures.helpers import fake_plugins  # noqa: F401  (session fixture)

from lamina.kernel import distributions as dists
from lamina.kernel.distributions import normalize_name


def _theirs(path: list[str] | None = None) -> dict[str, md.Distribution]:
    """importlib.metadata's distributions, the first of each normalized name winning (as
    its own ``entry_points()`` does)."""
    found: dict[str, md.Distribution] = {}
    kwargs = {} if path is None else {"path": path}
    for d in md.distributions(**kwargs):
        found.setdefault(normalize_name(d.metadata["Name"]), d)
    return found


def _ours(path: list[str] | None = None) -> dict[str, dists.Distribution]:
    return {normalize_name(d.name): d for d in dists.distributions(path)}


def _entry_points_of(found: dict[str, md.Distribution]) -> set[tuple[str, str, str, str]]:
    return {
        (ep.group, ep.name, ep.value, d.metadata["Name"])
        for d in found.values() for ep in d.entry_points
    }


def test_same_distributions_and_versions_as_importlib_metadata_here():
    theirs = {k: d.version for k, d in _theirs().items()}
    ours = {k: d.version for k, d in _ours().items()}
    assert len(ours) > 20  # this environment: pytest, attrs, pluggy, lamina, its plugins...
    assert ours == theirs
    assert {d.name for d in _ours().values()} == {d.metadata["Name"] for d in _theirs().values()}


def test_same_entry_points_as_importlib_metadata_here():
    ours = {
        (ep.group, ep.name, ep.value, ep.distribution)
        for d in dists.distributions() for ep in d.entry_points()
    }
    assert ours == _entry_points_of(_theirs())
    lamina_group = {(ep.name, ep.value, ep.distribution) for ep in dists.entry_points("lamina")}
    assert lamina_group == {
        (ep.name, ep.value, ep.dist.metadata["Name"]) for ep in md.entry_points(group="lamina")
    }
    assert ("s3", "lamina_datastore_s3.plugin", "lamina-datastore-s3") in lamina_group
    # the core announces no entry point: its builtin plugins come from DEFAULT_PLUGINS
    assert not {name for name, _, dist in lamina_group if dist == "lamina"}


def test_installed_version_and_packages_agree_with_importlib_metadata():
    for name in ("pytest", "attrs", "pluggy", "lamina", "lamina-datastore-s3"):
        assert dists.installed_version(name) == md.version(name), name
    assert dists.installed_version("Lamina_Datastore.S3") == md.version("lamina-datastore-s3")
    assert dists.installed_version("no-such-distribution-anywhere") is None
    packages = dists.installed_packages()
    assert packages["pytest"] == md.version("pytest")
    assert list(packages) == sorted(packages, key=str.lower)


@pytest.fixture
def site(tmp_path: Path, fake_plugins) -> dict[str, str]:  # noqa: F811
    """Folders of distributions: a really installed plugin, an older copy of it in a
    second folder, an egg-info folder and an egg-info file."""
    good = str(fake_plugins["good"])
    older = tmp_path / "older"
    shutil.copytree(fake_plugins["good"], older)
    meta = next(older.glob("lamina_fake_good-*.dist-info")) / "METADATA"
    meta.write_text(meta.read_text().replace("Version: 1.2.0", "Version: 0.9.0"))
    eggs = tmp_path / "eggs"
    (eggs / "Legacy_Tool.egg-info").mkdir(parents=True)
    (eggs / "Legacy_Tool.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: Legacy-Tool\nVersion: 3.1\n\nlong text: Version: 9\n"
    )
    (eggs / "Legacy_Tool.egg-info" / "entry_points.txt").write_text(
        "# comment\n[console_scripts]\nlegacy = legacy.cli:main\n\n[lamina]\n"
        "legacy = legacy.plugin\n"
    )
    (eggs / "flat-2.0.egg-info").write_text("Metadata-Version: 1.0\nName: flat\nVersion: 2.0\n")
    return {"good": good, "older": str(older), "eggs": str(eggs),
            "missing": str(tmp_path / "nowhere"), "file": str(meta)}


@pytest.mark.parametrize("order", [("good", "older"), ("older", "good")])
def test_first_copy_on_the_path_wins_as_in_importlib_metadata(site, order):
    path = [site[o] for o in order] + [site["eggs"], site["missing"], site["file"]]
    ours, theirs = _ours(path), _theirs(path)
    assert {k: d.version for k, d in ours.items()} == {k: d.version for k, d in theirs.items()}
    assert ours["lamina-fake-good"].version == ("1.2.0" if order[0] == "good" else "0.9.0")
    assert ours["legacy-tool"].version == "3.1" and ours["flat"].version == "2.0"
    assert dists.installed_version("lamina_fake_good", path) == ours["lamina-fake-good"].version
    ours_eps = {(ep.group, ep.name, ep.value, ep.distribution)
                for d in ours.values() for ep in d.entry_points()}
    assert ours_eps == _entry_points_of(theirs)
    lamina_eps = [(ep.name, ep.distribution, ep.version) for ep in dists.entry_points("lamina", path)]
    assert lamina_eps == [
        ("fakegood", "lamina-fake-good", ours["lamina-fake-good"].version),
        ("legacy", "Legacy-Tool", "3.1"),
    ]


def test_entry_points_read_no_metadata_of_other_groups(site):
    dist = next(d for d in dists.distributions([site["eggs"]]) if d.key == "legacy-tool")
    assert dist.has_group("console_scripts") and not dist.has_group("pytest11")
    assert dist._meta is None  # the entry points alone did not read PKG-INFO
    assert [ep.name for ep in dist.entry_points("console_scripts")] == ["legacy"]


def test_entry_point_load_follows_the_attribute_path():
    ep = dists.EntryPoint("x", "lamina.kernel.distributions:Distribution.name", "g", "d", "1")
    assert ep.load() is dists.Distribution.name
    assert ep.module == "lamina.kernel.distributions"


def test_known_plugins_are_read_only():
    assert dists.distribution_for("datastore", "s3") == "lamina-datastore-s3"
    assert dists.distribution_for_scheme("s3a") == "lamina-datastore-s3"
    assert dists.distribution_for("compute", "nope") is None
    with pytest.raises(TypeError):
        dists.KNOWN_COMPONENTS[("compute", "x")] = "y"  # type: ignore[index]

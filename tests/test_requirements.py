"""``required_plugins`` entries mean what PEP 440 (and pip) says they mean."""

from __future__ import annotations

import importlib.metadata as md

import pytest
from packaging.specifiers import SpecifierSet

from lamina.kernel.requirements import parse_requirement, unmet

# (specifier, installed version, satisfied?) -- each line a rule of PEP 440 that the former
# hand-written parser got wrong or that is easy to get wrong.
CASES = [
    ("<1.0", "1.0.dev1", False),  # a dev release of V is not "< V"
    ("<1.0", "1.0rc1", False),  # nor is a pre-release of V
    ("<1.0", "1.0a1.dev2", False),
    ("<1.0", "0.9.9", True),
    ("<1.0rc1", "1.0a2", True),  # unless V itself is a pre-release
    (">1.0", "1.0.post1", False),  # a post-release of V is not "> V"
    (">1.0", "1.0+local.7", False),  # nor is a local version of V
    (">1.0", "1.0.1", True),
    (">1.0.post1", "1.0.post2", True),
    ("==1.0", "1.0+local.7", True),  # a local version matches its public version
    ("==1.0+local.7", "1.0+local.8", False),
    ("<=1.0", "1.0+anything", True),
    (">=0.9", "1.0rc1", True),  # an installed pre-release inside the range counts (pip check)
    (">=1.0", "1.0rc1", False),
    ("==1.*", "1.9.3", True),
    ("==1.*", "2.0", False),
    ("!=1.4.*", "1.4.2", False),
    ("~=1.4.5", "1.4.9", True),
    ("~=1.4.5", "1.5.0", False),
    ("~=1.4", "1.9", True),
    ("==1.0", "1.0.0", True),  # zero padding
    (">=1!0.1", "2.0", False),  # epochs
    ("===1.0-foo", "1.0-foo", True),  # arbitrary equality: also a non-PEP 440 version
    ("===1.0", "1.0.0", False),  # ... compared as strings
    ("", "0.0.1.dev0", True),
    (">=0.1,<2", "2.0", False),
    (">=0.1,<2", "0.1.0", True),
]


@pytest.mark.parametrize(("spec", "version", "expected"), CASES)
def test_specifiers_follow_pep_440(spec, version, expected):
    req = parse_requirement(f"lamina-audit-log{spec}")
    assert req.satisfied_by(version) is expected
    # ... and exactly as packaging, the reference implementation, judges it
    assert SpecifierSet(spec).contains(version, prereleases=True) is expected


def test_a_version_that_is_not_pep_440_satisfies_nothing():
    assert parse_requirement("x>=0").satisfied_by("not-a-version") is False


def test_parse_normalizes_the_name_and_keeps_the_text():
    req = parse_requirement("  Lamina_Audit.Log[extra] >=0.1, <2 ")
    assert req.name == "lamina-audit-log"
    assert req.text == "Lamina_Audit.Log[extra] >=0.1, <2"
    assert req.satisfied_by("1.5") and not req.satisfied_by("2.0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lamina-audit-log>>1", "not a requirement: 'lamina-audit-log>>1'"),
        ("lamina-audit-log=>0.1", "not a requirement: 'lamina-audit-log=>0.1'"),
        ("lamina-audit-log>=1.0-foo-", "not a requirement"),
        ("", "not a requirement: ''"),
        ("x @ https://example.org/x.whl", "names a URL"),
    ],
)
def test_malformed_entries_say_what_is_wrong_and_show_an_example(text, message):
    with pytest.raises(ValueError) as err:
        parse_requirement(text)
    assert message in str(err.value)
    assert "e.g. '" in str(err.value)
    assert "\n" not in str(err.value)


def test_unmet_checks_installed_versions_and_markers():
    pytest_version = md.version("pytest")
    missing = unmet([
        f"pytest>={pytest_version}",
        f"pytest<{pytest_version}",
        "no-such-distribution-anywhere>=1",
        f"pytest<{pytest_version}; sys_platform == 'no-such-platform'",
    ])
    assert [(req.text, have) for req, have in missing] == [
        (f"pytest<{pytest_version}", pytest_version),
        ("no-such-distribution-anywhere>=1", None),
    ]

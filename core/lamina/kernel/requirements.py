"""``required_plugins`` entries: a distribution name and PEP 440 version specifiers.

A deliberately small subset of PEP 440 (release numbers, pre/post/dev tags and the
operators ``== != >= <= > < ~=``, ``==X.*``), so that the core needs no extra dependency
for one config key.
"""

from __future__ import annotations

import re

import attrs

from lamina.kernel.entrypoints import normalize_name

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")
_SPEC = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>)\s*([0-9A-Za-z.*+!_-]+)\s*$")
_VERSION = re.compile(
    r"^v?(?:(\d+)!)?(\d+(?:\.\d+)*)"
    r"(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?"
    r"(?:(?:-(\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\d*)))?"
    r"(?:[-_.]?(dev)[-_.]?(\d*))?"
    r"(?:\+[a-z0-9.]+)?$",
    re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(version: str) -> tuple:
    """A sortable key for a PEP 440 version string (ValueError if it is not one)."""
    m = _VERSION.match(version.strip())
    if not m:
        raise ValueError(f"not a PEP 440 version: {version!r}")
    epoch, release, pre_l, pre_n, post_implicit, _post_l, post_n, dev_l, dev_n = m.groups()
    rel = tuple(int(p) for p in release.split("."))
    while len(rel) > 1 and rel[-1] == 0:
        rel = rel[:-1]
    # dev releases sort before pre releases, which sort before the final release.
    if pre_l:
        pre = (_PRE[pre_l.lower()], int(pre_n or 0))
    elif dev_l and post_implicit is None and _post_l is None:
        pre = (-1, 0)
    else:
        pre = (3, 0)
    post_num = post_implicit if post_implicit is not None else post_n
    post = (1, int(post_num or 0)) if (post_implicit is not None or _post_l) else (0, 0)
    dev = (0, int(dev_n or 0)) if dev_l else (1, 0)
    return (int(epoch or 0), rel, pre, post, dev)


def _release(version: str) -> tuple[int, ...]:
    return version_key(version)[1]


def _matches(op: str, wanted: str, have: str) -> bool:
    if wanted.endswith(".*"):
        prefix = tuple(int(p) for p in wanted[:-2].split("."))
        rel = version_key(have)[1] + (0,) * len(prefix)
        hit = rel[: len(prefix)] == prefix
        return hit if op == "==" else not hit
    h, w = version_key(have), version_key(wanted)
    if op == "==":
        return h == w
    if op == "!=":
        return h != w
    if op == ">=":
        return h >= w
    if op == "<=":
        return h <= w
    if op == ">":
        return h > w
    if op == "<":
        return h < w
    # ~=X.Y means >=X.Y, ==X.*
    parts = wanted.split(".")
    if len(parts) < 2:
        raise ValueError(f"'~={wanted}' needs at least two release numbers")
    prefix = tuple(int(p) for p in _release(wanted)[: len(parts) - 1])
    rel = version_key(have)[1] + (0,) * len(prefix)
    return h >= w and rel[: len(prefix)] == prefix


@attrs.frozen
class Requirement:
    """One ``required_plugins`` entry, e.g. ``lamina-audit-log>=0.1,<2``."""

    text: str
    name: str
    specifiers: tuple[tuple[str, str], ...]

    def satisfied_by(self, version: str) -> bool:
        try:
            return all(_matches(op, v, version) for op, v in self.specifiers)
        except ValueError:
            return False


def parse_requirement(text: str) -> Requirement:
    """Parse ``name[extras] spec, spec``; ValueError says what is wrong."""
    m = _REQ.match(text)
    if not m or not m.group(1):
        raise ValueError(f"not a requirement: {text!r} (expected e.g. 'lamina-audit-log>=0.1')")
    name, _extras, rest = m.groups()
    specs: list[tuple[str, str]] = []
    if rest:
        for part in rest.split(","):
            sm = _SPEC.match(part)
            if not sm:
                raise ValueError(
                    f"bad version specifier {part.strip()!r} in {text!r} "
                    "(expected e.g. '>=0.1' or '==1.*')"
                )
            op, ver = sm.groups()
            if not ver.endswith(".*"):
                version_key(ver)  # validates
            specs.append((op, ver))
    return Requirement(text=text.strip(), name=normalize_name(name), specifiers=tuple(specs))


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
    except ValueError:  # not a valid distribution name
        return None


def unmet(requirements: list[str] | tuple[str, ...]) -> list[tuple[Requirement, str | None]]:
    """The requirements that the installed distributions do not meet:
    (requirement, installed version or None). ValueError for a malformed entry."""
    missing: list[tuple[Requirement, str | None]] = []
    for text in requirements:
        req = parse_requirement(text)
        have = installed_version(req.name)
        if have is None or not req.satisfied_by(have):
            missing.append((req, have))
    return missing

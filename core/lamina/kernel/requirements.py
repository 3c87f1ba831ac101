"""``required_plugins`` entries: a distribution name and PEP 440 version specifiers.

Parsed and compared by :mod:`packaging`, the reference implementation of PEP 440 that pip
uses, so a specifier means here exactly what it means to pip: ``1.0.dev1`` and ``1.0rc1``
do not satisfy ``<1.0``, ``1.0.post1`` does not satisfy ``>1.0``, ``1.0+local`` satisfies
``==1.0``. As ``pip check`` does for installed distributions, an installed pre-release
counts when it is inside the range (``2.0rc1`` satisfies ``>=1.0``). An entry whose
environment marker does not hold here (``foo>=1; sys_platform == "win32"``) is not
required.
"""

from __future__ import annotations

import attrs
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as _PackagingRequirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion

from lamina.kernel.distributions import installed_version, normalize_name

__all__ = ["Requirement", "installed_version", "parse_requirement", "unmet"]


@attrs.frozen
class Requirement:
    """One ``required_plugins`` entry, e.g. ``lamina-audit-log>=0.1,<2``.

    :param text: the entry as written.
    :param name: the distribution, normalized (PEP 503).
    :param specifier: its version specifiers (empty: any version).
    :param marker: its environment marker, or "" when it has none.
    """

    text: str
    name: str
    specifier: SpecifierSet = attrs.field(factory=SpecifierSet)
    marker: str = ""

    def applies(self) -> bool:
        """Whether the entry's environment marker holds here (True when it has none)."""
        if not self.marker:
            return True
        from packaging.markers import Marker

        return Marker(self.marker).evaluate()

    def satisfied_by(self, version: str) -> bool:
        """Whether an installed ``version`` meets the specifiers. A version that is not
        PEP 440 meets only ``===`` (arbitrary equality) and the empty specifier."""
        try:
            return self.specifier.contains(version, prereleases=True)
        except InvalidVersion:
            return False


def parse_requirement(text: str) -> Requirement:
    """Parse ``name[extras] specifiers ; marker``; ValueError says what is wrong."""
    try:
        req = _PackagingRequirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0].strip() if str(exc).strip() else "unreadable"
        raise ValueError(
            f"not a requirement: {text!r} ({detail}; expected e.g. 'lamina-audit-log>=0.1' "
            "or 'lamina-audit-log>=0.1,<2')"
        ) from None
    if req.url:
        raise ValueError(
            f"{text!r} names a URL; required_plugins checks installed versions only "
            f"(write e.g. '{req.name}>=0.1' and install it from the URL)"
        )
    return Requirement(
        text=text.strip(),
        name=normalize_name(req.name),
        specifier=req.specifier,
        marker=str(req.marker) if req.marker else "",
    )


def unmet(requirements: list[str] | tuple[str, ...]) -> list[tuple[Requirement, str | None]]:
    """The requirements that the installed distributions do not meet:
    (requirement, installed version or None). ValueError for a malformed entry."""
    missing: list[tuple[Requirement, str | None]] = []
    for text in requirements:
        req = parse_requirement(text)
        if not req.applies():
            continue
        have = installed_version(req.name)
        if have is None or not req.satisfied_by(have):
            missing.append((req, have))
    return missing

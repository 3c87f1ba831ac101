"""The docs describe lamina through its public surface only: a module they name is one a
user or a plugin may import (docs/sdk.md), never an internal one that may change."""

from __future__ import annotations

import re
from pathlib import Path

import lamina.sdk

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {
    "lamina.sdk", "lamina.testing", "lamina.hookspecs", "lamina.errors", "lamina.interfaces",
    "lamina.features", "lamina.serving", "lamina.monitoring", "lamina.cards", "lamina.ui",
    "lamina.statistics", "lamina.registry", "lamina.checks", "lamina.data", "lamina.retention",
    "lamina.config.reference",  # a command: python -m lamina.config.reference
}
#: names that look like modules but are files or config keys
NOT_MODULES = {"lamina.toml", "lamina.secrets.toml", "lamina.dev", "lamina.blake3"}
#: what `lamina plugins` prints for the builtin plugins, shown as its output
PRINTED = {"lamina.builtin.plugin", "lamina.builtin.features_plugin",
           "lamina.builtin.serving_plugin", "lamina.builtin.monitoring_plugin",
           "lamina.builtin.data_plugin"}
NAME = re.compile(r"\blamina(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _docs() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("plugins", "contrib", "examples"):
        files += sorted((ROOT / folder).glob("*/README.md"))
    return files


def _allowed(name: str) -> bool:
    if name in NOT_MODULES or name in PRINTED or name.startswith(("lamina.stacks.",
                                                                  "lamina.plugins.")):
        return True
    parts = name.split(".")
    if len(parts) == 2 and parts[1] in lamina.__all__:  # lamina.Flow, lamina.current...
        return True
    if name.startswith("lamina.sdk."):
        return parts[2] in lamina.sdk.__all__
    return any(name == p or name.startswith(p + ".") for p in PUBLIC)


def test_docs_name_only_public_modules():
    found = []
    for path in _docs():
        if path.name == "sdk.md":  # it names the internals to say they are not public
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{number}: {name}"
                      for name in NAME.findall(line) if not _allowed(name)]
    assert found == [], "docs name internal modules; use lamina.sdk:\n" + "\n".join(found)


def test_every_sdk_name_is_documented():
    text = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
    missing = [n for n in lamina.sdk.__all__ if f"`{n}" not in text and f" {n}" not in text]
    assert missing == []

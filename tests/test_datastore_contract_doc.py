"""docs/datastores/contract.md documents every member of the Datastore Protocol."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from lamina.interfaces import Datastore

DOC = Path(__file__).resolve().parent.parent / "docs" / "datastores" / "contract.md"


def _members() -> dict[str, str]:
    """name -> its signature as the doc writes it (``url: str``, ``has_blob(key: str) -> bool``)."""
    found = {name: f"{name}: {tp}" for name, tp in Datastore.__annotations__.items()}
    for name, fn in vars(Datastore).items():
        if callable(fn) and not name.startswith("_"):
            sig = inspect.signature(fn)
            params = [p for p in sig.parameters.values() if p.name != "self"]
            text = str(sig.replace(parameters=params))
            found[name] = f"{name}{text}".replace("'", "")
    return found


def test_every_protocol_member_has_a_section_with_its_signature():
    headings = re.findall(r"^### `(.+)`$", DOC.read_text(), re.M)
    members = _members()
    assert set(members) == {"url", "staging_dir", "commit_blob", "has_blob", "blob_path",
                            "put_record", "get_record", "list_records", "check"}
    assert sorted(headings) == sorted(members.values())

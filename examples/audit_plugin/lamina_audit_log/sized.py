"""A size-limited datastore: the builtin file datastore, wrapped; no storage code here."""

from __future__ import annotations

import os
from typing import Any

import attrs

from lamina.sdk import ComponentSpec, DatastoreError, DatastoreWrapper


@attrs.frozen
class SizedOptions:
    """:param url: where the wrapped file datastore keeps objects.
    :param max_object_bytes: the largest object a step may store."""

    url: str = ".lamina"
    max_object_bytes: int = attrs.field(default=100_000_000, validator=attrs.validators.gt(0))


class SizeLimited(DatastoreWrapper):
    def __init__(self, inner: Any, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit

    def commit_blob(self, staged_path: str, key: str) -> bool:
        size = os.path.getsize(staged_path)
        if size > self.limit:
            os.unlink(staged_path)
            raise DatastoreError(f"object of {size:,} bytes is over the limit of "
                                 f"{self.limit:,}", hint="raise max_object_bytes")
        return self.inner.commit_blob(staged_path, key)


def build(options: SizedOptions, stack: Any) -> SizeLimited:
    inner = stack.build_component("datastore", "file", {"url": options.url})
    return SizeLimited(inner, options.max_object_bytes)


SPEC = ComponentSpec(layer="datastore", name="sized", config=SizedOptions, factory=build,
                     description="the file datastore with a size limit per object")

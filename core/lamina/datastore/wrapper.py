"""Composition for datastores: wrap a component (the file datastore, S3, any plugin's) and
change only what your plugin is about.

::

    class SizeLimited(DatastoreWrapper):
        def commit_blob(self, staged_path, key):
            if os.path.getsize(staged_path) > LIMIT:
                raise DatastoreError(f"{key} is larger than {LIMIT} bytes")
            return self.inner.commit_blob(staged_path, key)

Every method of :class:`lamina.interfaces.Datastore` is forwarded to ``inner``; so is any
other attribute (``delete_record``, ``count_objects``...). The optional fast paths the
artifact store uses are kept only while they cannot bypass an override: ``put_blob`` and
``commit_buffers`` go through your ``commit_blob`` when you override it, and
``local_blob_path`` answers None (so reads go through your ``blob_path``) when you
override that.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any


class DatastoreWrapper:
    """A datastore that forwards to ``inner``; subclass it and override what you change.

    :param inner: the wrapped component, e.g. ``stack.build_component("datastore", "file",
        {"url": options.url})``.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def url(self) -> str:
        """The wrapped store's URL (remote tasks rebuild the stack from its manifest, not
        from this URL)."""
        return str(self.inner.url)

    def staging_dir(self) -> str:
        return str(self.inner.staging_dir())

    def commit_blob(self, staged_path: str, key: str) -> bool:
        return bool(self.inner.commit_blob(staged_path, key))

    def has_blob(self, key: str) -> bool:
        return bool(self.inner.has_blob(key))

    def blob_path(self, key: str) -> str:
        return str(self.inner.blob_path(key))

    def put_record(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        return bool(self.inner.put_record(key, data, exclusive=exclusive))

    def get_record(self, key: str) -> bytes | None:
        data: bytes | None = self.inner.get_record(key)
        return data

    def list_records(self, prefix: str) -> list[str]:
        return list(self.inner.list_records(prefix))

    def check(self) -> str:
        return str(self.inner.check())

    def put_blob(self, key: str, data: bytes) -> bool:
        """Store a small blob: the inner fast path, unless ``commit_blob`` is overridden,
        in which case the bytes are staged and committed through it."""
        fast = getattr(self.inner, "put_blob", None)
        if fast is not None and type(self).commit_blob is DatastoreWrapper.commit_blob:
            return bool(fast(key, data))
        return self._stage_and_commit([memoryview(data)], key)

    def commit_buffers(self, buffers: Sequence[memoryview], key: str) -> bool:
        """Store an object from buffers in memory: the inner store's way when it has one
        and ``commit_blob`` is not overridden; else the buffers are staged to a file and
        committed through ``commit_blob``."""
        fast = getattr(self.inner, "commit_buffers", None)
        if fast is not None and type(self).commit_blob is DatastoreWrapper.commit_blob:
            return bool(fast(buffers, key))
        return self._stage_and_commit(buffers, key)

    def _stage_and_commit(self, buffers: Sequence[memoryview], key: str) -> bool:
        """The bytes written to a staged file and committed through ``commit_blob`` (an
        override of it sees every object)."""
        fd, staged = tempfile.mkstemp(dir=self.staging_dir(), prefix="wrap-")
        try:
            with os.fdopen(fd, "wb") as f:
                for buffer in buffers:
                    f.write(buffer)
            return self.commit_blob(staged, key)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)

    def local_blob_path(self, key: str) -> str | None:
        """A local path without download, or None; None whenever ``blob_path`` is
        overridden, so reads go through it."""
        fast = getattr(self.inner, "local_blob_path", None)
        if fast is None or type(self).blob_path is not DatastoreWrapper.blob_path:
            return None
        path: str | None = fast(key)
        return path

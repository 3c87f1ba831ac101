"""An operating-system error of the storage, as the one-line error a user can act on.

A full disk, a read-only mount, a file where a folder should be: these are problems of
the disk under the datastore, not of the value being saved, so they are reported as such
(:class:`lamina.errors.DatastoreError`, naming the path and the fix) wherever lamina
writes: saving a result, a record, the datastore's first folder.
"""

from __future__ import annotations

import errno

from lamina.errors import DatastoreError

__all__ = ["storage_error"]

_WHY = {
    errno.ENOSPC: ("the disk is full", "free space on that disk, or move the datastore "
                   "(the stack's datastore url) to a disk with room"),
    errno.EDQUOT: ("the disk quota is used up", "free space within the quota, or move the "
                   "datastore"),
    errno.EROFS: ("the filesystem is read-only", "put the datastore on a writable disk "
                  "(the stack's datastore url)"),
    errno.EACCES: ("permission denied", "give this user write access to the folder, or "
                   "move the datastore"),
    errno.EPERM: ("the operation is not permitted (a read-only or special filesystem?)",
                  "put the datastore on an ordinary writable disk"),
    errno.ENOTDIR: ("a file stands where a folder is needed", "remove or rename that file, "
                    "or point the datastore url elsewhere"),
    errno.EISDIR: ("a folder stands where a file is needed", "remove or rename that folder"),
    errno.EIO: ("the disk reported an input/output error", "check the disk (dmesg), then "
                "retry"),
}


def storage_error(exc: BaseException, action: str) -> DatastoreError | None:
    """A :class:`DatastoreError` for an ``OSError`` of the storage (full, read-only,
    not permitted, a file in the way, I/O error), or None for any other error.

    :param action: what lamina was doing, for the message (``saving the result of
        RUN/STEP/0``).
    """
    if not isinstance(exc, OSError) or exc.errno not in _WHY:
        return None
    why, fix = _WHY[exc.errno]
    where = f" at {exc.filename}" if exc.filename else ""
    return DatastoreError(f"{action}: {why}{where} ({exc.strerror or exc})", hint=fix)

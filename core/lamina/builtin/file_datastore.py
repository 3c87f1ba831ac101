"""The builtin ``file`` datastore: a local folder (fast path, plain ``os`` calls) or any
fsspec URL (``memory://``, ``gcs://``... whatever fsspec protocol is installed).

Layout under the root::

    objects/ab/abcdef...   immutable, content-addressed objects (read-only files)
    tmp/                   staged objects being written (same filesystem: commit = link)
    runs/...               small JSON records (any key outside objects/ and tmp/)

Atomicity on a local disk: an object appears by ``os.link`` of a complete staged file, a
record by ``os.replace`` of a complete temporary file in the same folder (or ``os.link``
for an exclusive record, which fails if another process got there first). Where the
filesystem has no hard links (FAT/exFAT drives, some network shares), the link becomes a
rename that never replaces (:func:`rename_exclusive`), just as atomic and exclusive. A
killed writer leaves at most a stray file in ``tmp/`` or a hidden ``.tmp-*`` file, never a
partial object or record.

Every key is a name every platform can store: :func:`lamina.config.paths.portable_name_problem`
rejects what Windows refuses (``:``, ``?``, device names such as ``aux``...).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from lamina.config.paths import local_path, portable_name_problem
from lamina.datastore.hashing import (
    STAMP_MIN_SIZE,
    check_object_key,
    is_object_key,
    object_key,
    stamp,
)
from lamina.errors import ArtifactNotFoundError, BackendUnreachableError, DatastoreError

#: Top-level folders that belong to the object store, never to records.
RESERVED = ("objects", "tmp")
_TMP_PREFIX = ".tmp-"
#: Protocols whose single ``put`` is already atomic (object stores): no temp key + rename.
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"}


def _check_key(key: str, *, what: str = "record") -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise DatastoreError(
            f"{what} key {key!r} is not a relative '/'-separated path",
            hint="use keys like 'runs/RUN/tasks/step/0.json' (no leading '/', no '..')",
        )
    if what == "record" and parts[0] in RESERVED:
        raise DatastoreError(
            f"record key {key!r} is inside the reserved folder {parts[0]!r}/",
            hint=f"records may not live under {', '.join(r + '/' for r in RESERVED)}",
        )
    for part in parts:
        problem = portable_name_problem(part)
        if problem:
            raise DatastoreError(
                f"{what} key {key!r}: the name {part!r} cannot be stored as a file on every "
                f"platform: {problem}",
                hint="rename the step, flow or object this key is made from (letters, digits, "
                "'-', '_', '.'), so that the datastore opens on Windows, macOS and Linux",
            )
    if parts[-1].startswith(_TMP_PREFIX):
        raise DatastoreError(
            f"{what} key {key!r}: names starting with {_TMP_PREFIX!r} are reserved for "
            "temporary files",
            hint="choose another name",
        )
    return key


_COUNTER = itertools.count()
_CREATE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)


_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):  # a forked worker names its files with its own pid
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _unique_tmp(folder: str, prefix: str) -> str:
    """A fresh temporary name in ``folder``, unique in this process and across processes
    (the pid, a counter and random bits: a name left by a crashed process is never
    reused)."""
    return os.path.join(folder, f"{prefix}{_PID[0]}-{next(_COUNTER)}-{os.urandom(3).hex()}")


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to the new file ``fd`` and close it: plain ``os.write`` calls, not a
    buffered file object (whose set-up costs three system calls a file)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _touch(path: str) -> bool:
    """Set ``path``'s mtime to now (a writer reuses the object); False if it is gone."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def _discard(path: str) -> None:
    """Remove a staged file once it was committed (or turned out to exist already)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def default_cache_dir() -> str:
    """Where remote objects are downloaded for reading: ``$LAMINA_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lamina/blobs`` (``~/.cache/lamina/blobs``)."""
    explicit = os.environ.get("LAMINA_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lamina", "blobs")


def _local_root(url: str) -> str | None:
    """The local folder a path or a ``file://``/``local://`` URL names (drive letters and
    backslashes too, see :mod:`lamina.config.paths`), or None when it needs fsspec."""
    return local_path(url)


#: errno values of a filesystem that has no hard links (FAT/exFAT, some network shares):
#: objects and records then appear by an exclusive rename instead.
_NO_HARD_LINKS = frozenset(
    getattr(errno, name)
    for name in ("EPERM", "EXDEV", "ENOTSUP", "EOPNOTSUPP", "EMLINK", "EINVAL", "ENOSYS", "EACCES")
    if hasattr(errno, name)
)
#: errno values of a filesystem or kernel without a no-replace rename.
_NO_EXCLUSIVE_RENAME = frozenset(
    getattr(errno, name) for name in ("EINVAL", "ENOSYS", "ENOTSUP", "EOPNOTSUPP")
    if hasattr(errno, name)
)
#: A reused object of an fsspec store written less than this long ago (seconds) is not
#: touched again (a touch may cost a rewrite there); ``lamina gc`` needs twice this grace.
REMOTE_FRESH_FOR = 600.0
#: A lock file older than this (seconds) was left by a killed writer and is broken.
STALE_LOCK_SECONDS = 30.0


def _replace(src: str, dst: str) -> None:
    """``os.replace``; on Windows, retried briefly while a reader holds ``dst`` open."""
    if sys.platform != "win32":
        os.replace(src, dst)
        return
    for delay in (0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5):  # pragma: no cover (Windows)
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            time.sleep(delay)
    os.replace(src, dst)  # pragma: no cover (Windows)


@functools.cache
def _native_rename_noreplace() -> Any:
    """The C function that renames without replacing: Linux's ``renameat2`` with
    ``RENAME_NOREPLACE``, macOS's ``renamex_np`` with ``RENAME_EXCL``; None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, noreplace = -100, 1

        def linux(src: bytes, dst: bytes) -> int:
            return int(libc.renameat2(at_fdcwd, src, at_fdcwd, dst, noreplace))

        return linux
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        excl = 0x00000004

        def darwin(src: bytes, dst: bytes) -> int:
            return int(libc.renamex_np(src, dst, excl))

        return darwin
    return None


def rename_exclusive(src: str, dst: str, *, lock_dir: str | None = None) -> bool:
    """Rename ``src`` to ``dst`` unless ``dst`` exists; True if renamed. Atomic and
    exclusive among concurrent callers, without hard links:

    * Windows: ``os.rename`` never replaces an existing file;
    * Linux and macOS: ``renameat2(RENAME_NOREPLACE)`` / ``renamex_np(RENAME_EXCL)``;
    * a filesystem that supports neither: an ``O_EXCL`` lock file per name in ``lock_dir``
      (default: ``dst``'s folder) makes check-then-rename one step; a lock left by a killed
      writer is broken after :data:`STALE_LOCK_SECONDS`.
    """
    if sys.platform == "win32":  # pragma: no cover (Windows)
        try:
            os.rename(src, dst)
            return True
        except FileExistsError:
            return False
    native = _native_rename_noreplace()
    if native is not None:
        import ctypes

        if native(os.fsencode(src), os.fsencode(dst)) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code not in _NO_EXCLUSIVE_RENAME:
            raise OSError(code, os.strerror(code), dst)
    return _rename_locked(src, dst, lock_dir or os.path.dirname(dst))


def _rename_locked(src: str, dst: str, lock_dir: str) -> bool:
    digest = hashlib.sha256(os.fsencode(os.path.abspath(dst))).hexdigest()[:32]
    lock = os.path.join(lock_dir, f".lock-{digest}")
    os.makedirs(lock_dir, exist_ok=True)
    while True:
        try:
            os.close(os.open(lock, _CREATE, 0o644))
            break
        except FileExistsError:
            if os.path.exists(dst):
                return False
            try:
                if time.time() - os.stat(lock).st_mtime > STALE_LOCK_SECONDS:
                    _discard(lock)
            except FileNotFoundError:
                pass
            time.sleep(0.001)
    try:
        if os.path.exists(dst):
            return False
        os.replace(src, dst)
        return True
    finally:
        _discard(lock)


class FileDatastore:
    """Objects and records in a folder or under any fsspec URL.

    :param url: a local path, ``file:///abs/path``, or an fsspec URL (``memory://x``).
    :param verify_reads: recorded for the stack; the artifact store re-hashes objects on
        read when it is true.
    :param cache_dir: for a remote URL, where objects are downloaded for reading
        (default :func:`default_cache_dir`).
    :param hard_links: for a local folder, whether to commit by hard link (None: try, and
        fall back to an exclusive rename once the filesystem refuses one; False: never).
    """

    def __init__(
        self,
        url: str,
        *,
        verify_reads: bool = True,
        cache_dir: str | None = None,
        hard_links: bool | None = None,
    ) -> None:
        self.url = url
        self.verify_reads = verify_reads
        local = _local_root(url)
        self._impl: _LocalStore | _FsspecStore
        if local is not None:
            self._impl = _LocalStore(local, hard_links=hard_links)
        else:
            self._impl = _FsspecStore(url, cache_dir or default_cache_dir())
        self.root: str = self._impl.root
        self.is_local: bool = isinstance(self._impl, _LocalStore)
        #: seconds during which a reused object is not touched again (``lamina gc`` needs
        #: a grace period of twice this): none on a local disk
        self.fresh_for: float = 0.0 if self.is_local else REMOTE_FRESH_FOR

    def __repr__(self) -> str:
        return f"FileDatastore({self.url!r})"

    def staging_dir(self) -> str:
        return self._impl.staging_dir()

    def commit_blob(self, staged_path: str, key: str) -> bool:
        return self._impl.commit_blob(staged_path, check_object_key(key))

    def put_blob(self, key: str, data: bytes) -> bool:
        """Store small in-memory bytes as object ``key`` (the caller hashed them); True if
        they were newly written. Nothing is written when the object exists already."""
        return self._impl.put_blob(check_object_key(key), data)

    def has_blob(self, key: str) -> bool:
        return is_object_key(key) and self._impl.has_blob(key)

    def blob_path(self, key: str) -> str:
        return self._impl.blob_path(check_object_key(key))

    def discard_blob(self, key: str) -> bool:
        """Remove object ``key`` found damaged (truncated, altered), so that the value
        computed again is stored whole under its key; True if it existed."""
        return self._impl.discard_blob(check_object_key(key))

    def local_blob_path(self, key: str) -> str | None:
        """Where object ``key`` is on local disk if it is stored, unchecked (None for a
        remote URL): a reader opens it directly rather than checking for it first."""
        if not self.is_local:
            return None
        return os.path.join(self.root, object_key(check_object_key(key)))

    def put_record(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        return self._impl.put_record(_check_key(key), data, exclusive=exclusive)

    def get_record(self, key: str) -> bytes | None:
        return self._impl.get_record(_check_key(key))

    def delete_record(self, key: str) -> bool:
        """Remove a record (used for probes and locks); True if it existed."""
        return self._impl.delete_record(_check_key(key))

    def list_records(self, prefix: str) -> list[str]:
        prefix = prefix.strip("/")
        if prefix:
            _check_key(prefix)
        return self._impl.list_records(prefix)

    def count_objects(self) -> int:
        """How many objects are stored (walks ``objects/``)."""
        return self._impl.count_objects()

    # -- retention (lamina.interfaces.CollectableDatastore) ---------------------------

    def scan(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """Stream ``(key, size, mtime)`` of every object or record under ``prefix``
        (``"objects"``: every object; ``"runs"``; ``""``: every record, no object),
        without listing it in memory first."""
        prefix = prefix.strip("/")
        if prefix and prefix.split("/")[0] not in RESERVED:
            _check_key(prefix)
        return self._impl.scan(prefix)

    def touch_blob(self, key: str) -> bool:
        """Mark object ``key`` as just reused (its mtime becomes now); False if absent."""
        return self._impl.touch_blob(check_object_key(key))

    def delete_blob(self, key: str, *, older_than: float) -> int | None:
        """Delete object ``key`` if it was not written nor touched since ``older_than``;
        the bytes freed, or None when kept or absent."""
        return self._impl.delete_blob(check_object_key(key), older_than)

    def purge_trash(self, older_than: float) -> int:
        """Finish what a killed ``lamina gc`` left half done (see ``delete_blob``); how
        many objects were deleted."""
        purge = getattr(self._impl, "purge_trash", None)
        return int(purge(older_than)) if purge is not None else 0

    def clean_staging(self, older_than: float = 24 * 3600) -> int:
        """Delete staged files left by killed writers, if older than ``older_than``
        seconds (younger ones may belong to a save in progress). Returns how many."""
        import time

        folder = self._impl.staging_dir()
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(folder):
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def check(self) -> str:
        import uuid  # only for remote stores and probes: kept off reads
        probe = f"_probe/{uuid.uuid4().hex}"
        try:
            self._impl.put_record(probe, b"probe", exclusive=False)
            back = self._impl.get_record(probe)
            self._impl.delete_record(probe)
            if back != b"probe":
                raise OSError(f"wrote a probe record {probe!r} but read back {back!r}")
            count = self._impl.count_objects()
        except (OSError, ValueError) as error:
            raise BackendUnreachableError(
                f"file datastore at {self.url}: cannot write and read back a probe record "
                f"({type(error).__name__}: {error})",
                hint="check that the folder (or bucket) exists and is writable by this user, "
                "or point the stack's datastore url elsewhere",
            ) from error
        where = self.root if self.is_local else self.url
        return f"file datastore at {where}: writable, {count} objects"


# -- local disk ----------------------------------------------------------------------------


class _LocalStore:
    """Plain ``os`` calls. Folders known to exist are remembered, so that a task's writes
    cost one file creation each, not a ``makedirs`` walk up the tree every time."""

    def __init__(self, root: str, *, hard_links: bool | None = None) -> None:
        self.root = root
        self._folders: set[str] = set()
        #: None: try hard links, and stop after the filesystem refuses one
        self.hard_links = hard_links

    def _publish(self, staged: str, final: str) -> bool:
        """Make the complete file ``staged`` appear as ``final`` unless ``final`` exists:
        True if it appeared. Atomic (a reader sees all of it or nothing) and exclusive (of
        writers racing for one name, exactly one gets True): a hard link where the
        filesystem has them, else a rename that never replaces (:func:`rename_exclusive`)."""
        if self.hard_links is not False:
            try:
                os.link(staged, final)
                return True
            except FileExistsError:
                return False
            except OSError as error:
                if error.errno not in _NO_HARD_LINKS:
                    raise
                self.hard_links = False  # FAT/exFAT, some network shares and FUSE mounts
        return rename_exclusive(staged, final, lock_dir=os.path.join(self.root, "tmp"))

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def staging_dir(self) -> str:
        path = os.path.join(self.root, "tmp")
        self._ensure_folder(path)
        return path

    def _create(self, folder: str, prefix: str, mode: int) -> tuple[int, str]:
        """Create a fresh temporary file in ``folder`` (made if missing): (fd, path)."""
        path = _unique_tmp(folder, prefix)
        try:
            return os.open(path, _CREATE, mode), path
        except FileNotFoundError:  # the folder is new, or was removed under us
            self._folders.discard(folder)
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
            return os.open(path, _CREATE, mode), path

    def put_blob(self, key: str, data: bytes) -> bool:
        final = self._path(object_key(key))
        try:
            if os.stat(final).st_size == len(data) and _touch(final):
                return False  # same hash, same bytes: nothing to write (but it is reused)
            existed = os.path.exists(final)  # damaged (repair it below), or just collected
        except FileNotFoundError:
            existed = False
        fd, staged = self._create(os.path.join(self.root, "tmp"), ".stage-", 0o444)
        try:
            _write_all(fd, data)
            folder = os.path.dirname(final)
            self._ensure_folder(folder)
            try:
                # Atomic. A concurrent writer of the same key writes the same bytes, and a
                # damaged object of the wrong size is replaced by the good copy.
                _replace(staged, final)
                staged = ""  # moved: nothing to clean up
            except FileNotFoundError:  # its folder was removed under us
                self._folders.discard(folder)
                self._ensure_folder(folder)
                _replace(staged, final)
                staged = ""
            except PermissionError:  # Windows: a concurrent writer's copy is there, read-only
                if not os.path.exists(final):
                    raise
                return False
            return not existed
        finally:
            if staged:
                _discard(staged)

    def commit_blob(self, staged_path: str, key: str) -> bool:
        final = self._path(object_key(key))
        try:
            if os.path.getsize(staged_path) >= STAMP_MIN_SIZE:
                stamp(staged_path, key)  # before chmod: a read-only file takes no xattr
            os.chmod(staged_path, 0o444)
            folder = os.path.dirname(final)
            self._ensure_folder(folder)
            try:
                created = self._publish(staged_path, final)
            except FileNotFoundError:  # its folder was removed under us
                self._folders.discard(folder)
                self._ensure_folder(folder)
                created = self._publish(staged_path, final)
            if not created and not _touch(final):  # collected in between: ours goes in
                created = self._publish(staged_path, final)
            # Same hash, same bytes; but repair an existing object of the wrong size
            # (damaged on disk) with the good copy we have in hand.
            if not created and os.path.getsize(final) != os.path.getsize(staged_path):
                _replace(staged_path, final)
            return created
        finally:
            _discard(staged_path)

    def has_blob(self, key: str) -> bool:
        return os.path.isfile(self._path(object_key(key)))

    def blob_path(self, key: str) -> str:
        path = self._path(object_key(key))
        if not os.path.isfile(path):
            raise ArtifactNotFoundError(
                f"object {key} not found at {path}",
                hint="the run that produced it may have been deleted; rerun it",
            )
        return path

    def put_record(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        final = self._path(key)
        fd, tmp = self._create(os.path.dirname(final), _TMP_PREFIX, 0o644)
        try:
            _write_all(fd, data)
            if not exclusive:
                _replace(tmp, final)
                tmp = ""  # moved: nothing to clean up
                return True
            return self._publish(tmp, final)
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def get_record(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def delete_record(self, key: str) -> bool:
        path = self._path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        # leave no empty folders behind (a deleted run's runs/RUN/tasks/STEP/...); a
        # writer that needs one again makes it (every write here recreates its folder)
        folder = os.path.dirname(path)
        while len(folder) > len(self.root):
            try:
                os.rmdir(folder)
            except OSError:  # not empty, or already gone
                break
            self._folders.discard(folder)
            folder = os.path.dirname(folder)
        return True

    def discard_blob(self, key: str) -> bool:
        try:
            os.unlink(self._path(object_key(key)))
            return True
        except FileNotFoundError:
            return False

    def list_records(self, prefix: str) -> list[str]:
        top = self._path(prefix) if prefix else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(top):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            if not rel:
                dirnames[:] = [d for d in dirnames if d not in RESERVED]
            for fname in filenames:
                if not fname.startswith(_TMP_PREFIX):
                    found.append(f"{rel}/{fname}" if rel else fname)
        return sorted(found)

    def count_objects(self) -> int:
        total = 0
        for _, _, filenames in os.walk(os.path.join(self.root, "objects")):
            total += len(filenames)
        return total

    def scan(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        top = self._path(prefix) if prefix else self.root
        cut = len(self.root.rstrip(os.sep)) + 1
        folders = [top]
        while folders:
            folder = folders.pop()
            try:
                entries = os.scandir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not (folder == self.root and name in RESERVED):
                                folders.append(entry.path)
                            continue
                        if name.startswith((_TMP_PREFIX, ".stage-", ".lock-", ".gc-")):
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:  # removed while we looked
                        continue
                    rel = entry.path[cut:]
                    if os.sep != "/":  # pragma: no cover (Windows)
                        rel = rel.replace(os.sep, "/")
                    yield rel, st.st_size, st.st_mtime

    def touch_blob(self, key: str) -> bool:
        return _touch(self._path(object_key(key)))

    def purge_trash(self, older_than: float) -> int:
        """Objects a killed collector left in ``tmp/`` between taking them out of their
        name and deleting them: put back when touched since ``older_than``, else
        deleted. Returns how many were deleted."""
        removed = 0
        folder = os.path.join(self.root, "tmp")
        try:
            entries = [e for e in os.scandir(folder) if e.name.startswith(".gc-")]
        except FileNotFoundError:
            return 0
        for entry in entries:
            key = entry.name[4:68]
            try:
                if is_object_key(key) and entry.stat().st_mtime >= older_than:
                    final = self._path(object_key(key))
                    self._ensure_folder(os.path.dirname(final))
                    self._publish(entry.path, final)
                else:
                    removed += 1
            except FileNotFoundError:
                continue
            finally:
                _discard(entry.path)
        return removed

    def delete_blob(self, key: str, older_than: float) -> int | None:
        """Take the object out of its name first (one rename: a writer touching it now
        finds it gone and stores it again), then look at its mtime: a touch that landed
        before the rename shows there, and the object goes back under its name."""
        final = self._path(object_key(key))
        trash = _unique_tmp(self.staging_dir(), f".gc-{key}-")
        try:
            os.rename(final, trash)
        except FileNotFoundError:
            return None
        except PermissionError:  # Windows: a reader holds it open; the next gc retries
            return None
        try:
            st = os.stat(trash)
            if st.st_mtime >= older_than:
                self._publish(trash, final)  # False: a writer stored it again meanwhile
                return None
            return st.st_size
        finally:
            _discard(trash)


# -- any fsspec filesystem -----------------------------------------------------------------


class _FsspecStore:
    def __init__(self, url: str, cache_dir: str) -> None:
        import fsspec

        self.fs, path = fsspec.core.url_to_fs(url)
        self.root = path.rstrip("/") or "/"
        self.protocol = url.split("://", 1)[0]
        self.cache_dir = cache_dir
        self._staging: str | None = None
        self._lock = threading.Lock()

    def _path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def staging_dir(self) -> str:
        if self._staging is None or not os.path.isdir(self._staging):
            import tempfile  # only for remote stores and probes: kept off reads
            self._staging = tempfile.mkdtemp(prefix="lamina-stage-")
        return self._staging

    def commit_blob(self, staged_path: str, key: str) -> bool:
        final = self._path(object_key(key))
        try:
            if self.fs.exists(final) and self._touch(final):
                return False
            if self.protocol in _ATOMIC_PUT:
                self.fs.put_file(staged_path, final)
            else:
                import uuid  # only for remote stores and probes: kept off reads
                tmp = f"{final}{_TMP_PREFIX.replace('-', '')}{uuid.uuid4().hex}"
                self.fs.put_file(staged_path, tmp)
                self.fs.mv(tmp, final)
            return True
        finally:
            _discard(staged_path)

    def has_blob(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(object_key(key))))

    def put_blob(self, key: str, data: bytes) -> bool:
        import tempfile  # only for remote stores and probes: kept off reads
        fd, staged = tempfile.mkstemp(dir=self.staging_dir(), prefix=".stage-")
        with open(fd, "wb") as f:
            f.write(data)
        return self.commit_blob(staged, key)

    def blob_path(self, key: str) -> str:
        local = os.path.join(self.cache_dir, key[:2], key)
        if os.path.isfile(local):
            return local
        remote = self._path(object_key(key))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        import tempfile  # only for remote stores and probes: kept off reads
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(local), prefix=_TMP_PREFIX)
        os.close(fd)
        try:
            try:
                self.fs.get_file(remote, tmp)
            except FileNotFoundError:
                raise ArtifactNotFoundError(
                    f"object {key} not found at {self.protocol}://{remote.lstrip('/')}",
                    hint="the run that produced it may have been deleted; rerun it",
                ) from None
            os.chmod(tmp, 0o444)
            os.replace(tmp, local)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return local

    def put_record(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        path = self._path(key)
        with self._lock:  # exclusive is race-free within a process; see docs for remote
            if exclusive and self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
        return True

    def get_record(self, key: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except (FileNotFoundError, IsADirectoryError):
            return None

    def delete_record(self, key: str) -> bool:
        try:
            self.fs.rm_file(self._path(key))
            return True
        except FileNotFoundError:
            return False

    def discard_blob(self, key: str) -> bool:
        cached = os.path.join(self.cache_dir, key[:2], key)
        if os.path.isfile(cached):
            os.unlink(cached)
        return self.delete_record(object_key(key))

    def list_records(self, prefix: str) -> list[str]:
        top = self._path(prefix) if prefix else self.root
        try:
            paths: list[Any] = self.fs.find(top)
        except FileNotFoundError:
            return []
        base = self.root.rstrip("/") + "/"
        found = []
        for p in paths:
            p = "/" + p.lstrip("/") if base.startswith("/") else p
            if not p.startswith(base):
                continue
            rel = p[len(base) :]
            parts = rel.split("/")
            if parts[0] in RESERVED or parts[-1].startswith(_TMP_PREFIX):
                continue
            if rel == prefix:  # fsspec finds a file itself; a record is not a folder
                continue
            found.append(rel)
        return sorted(found)

    def count_objects(self) -> int:
        try:
            return len(self.fs.find(self._path("objects")))
        except FileNotFoundError:
            return 0

    def scan(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        top = self._path(prefix) if prefix else self.root
        try:
            found: dict[str, Any] = self.fs.find(top, detail=True)
        except FileNotFoundError:
            return
        base = self.root.rstrip("/") + "/"
        for p, info in found.items():
            p = "/" + p.lstrip("/") if base.startswith("/") else p
            if not p.startswith(base):
                continue
            rel = p[len(base):]
            parts = rel.split("/")
            if parts[0] == "tmp" or (not prefix and parts[0] in RESERVED):
                continue
            if parts[-1].startswith(_TMP_PREFIX):
                continue
            yield rel, int(info.get("size") or 0), _info_mtime(info)

    def _touch(self, path: str) -> bool:
        """Freshen ``path``'s mtime (rewrite it where the filesystem cannot touch), unless
        it was written less than :data:`REMOTE_FRESH_FOR` seconds ago."""
        try:
            if time.time() - _info_mtime(self.fs.info(path)) < REMOTE_FRESH_FOR:
                return True
            self.fs.touch(path, truncate=False)
            return True
        except FileNotFoundError:
            return False
        except (NotImplementedError, ValueError, TypeError, OSError):
            try:
                self.fs.pipe_file(path, self.fs.cat_file(path))
                return True
            except FileNotFoundError:
                return False

    def touch_blob(self, key: str) -> bool:
        path = self._path(object_key(key))
        return bool(self.fs.exists(path)) and self._touch(path)

    def delete_blob(self, key: str, older_than: float) -> int | None:
        path = self._path(object_key(key))
        try:
            info = self.fs.info(path)
            if _info_mtime(info) >= older_than:
                return None
            self.fs.rm_file(path)
        except FileNotFoundError:
            return None
        cached = os.path.join(self.cache_dir, key[:2], key)
        if os.path.isfile(cached):
            _discard(cached)
        return int(info.get("size") or 0)


def _info_mtime(info: dict[str, Any]) -> float:
    """An fsspec ``info`` dict's modification time as epoch seconds (0.0: unknown)."""
    import datetime as dt

    for name in ("mtime", "LastModified", "last_modified", "modified", "created"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.timestamp()
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return 0.0

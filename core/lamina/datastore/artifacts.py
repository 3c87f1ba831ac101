"""The content-addressed artifact store the core uses on top of any datastore.

``save`` streams a value through its serializer into a staged file while hashing it, then
asks the datastore to commit the file under its hash: the value is never held twice in
memory, identical bytes are stored once, and a reader never sees a partial object.
``load`` re-hashes the object before trusting it (``verify_reads``), so a truncated or
altered file is reported, with the artifact and the fix, instead of becoming a wrong value.

A big value whose serializer gives its bytes as views of its own memory (``dump_buffers``:
a numpy array) is hashed in memory and handed to a datastore that offers
``commit_buffers`` (the S3 datastore uploads the views): no staged file is written.

Speed: a value whose bytes fit in :data:`~lamina.datastore.hashing.SMALL_OBJECT` is
serialized in memory and written with one file creation (none if the object exists), and
read back with one read that is hashed in memory. An object of
:data:`~lamina.datastore.hashing.STAMP_MIN_SIZE` or more is stamped when committed; a read
re-hashes it only when the file changed since (see :func:`lamina.datastore.hashing.stamp`).
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from lamina.datastore.diskerrors import storage_error
from lamina.datastore.hashing import (
    SMALL_OBJECT,
    STAMP_MIN_SIZE,
    HashingWriter,
    SpillingHashWriter,
    buffers_digest,
    bytes_digest,
    file_digest,
    is_object_key,
    legacy_digest,
    stamp,
    stamp_matches,
)
from lamina.datastore.serializers import SerializerRegistry, type_name
from lamina.errors import (
    ArtifactNotFoundError,
    CorruptArtifactError,
    DatastoreError,
    LaminaError,
    SerializationError,
)
from lamina.interfaces.datastore import Datastore
from lamina.interfaces.serializer import Serializer
from lamina.records import ArtifactRef

#: A reused object up to this size is re-hashed before it is reused; a larger one is
#: checked by size and its hash stamp (re-hashed when it has none).
REUSE_HASH_LIMIT = 64 * 1024 * 1024


def _label(name: str) -> str:
    return f"artifact {name!r}" if name else "artifact"


def _rerun_hint(name: str) -> str:
    run = name.split("/", 1)[0] if "/" in name else ""
    how = f"`lamina resume {run}`" if run else "`lamina resume RUN`"
    return (
        "the stored object is damaged or gone; delete it and rerun the task that produced "
        f"it ({how} reruns only what is missing)"
    )


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_STAGE_COUNTER = itertools.count()
_CREATE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)


def _create_staged(staging: str) -> tuple[int, str]:
    """A new, empty staged file: (fd, path). Cheaper than ``tempfile.mkstemp`` (no random
    name generator, no retry loop in the common case): the name is unique per process."""
    while True:
        path = os.path.join(
            staging, f".stage-{os.getpid()}-{next(_STAGE_COUNTER)}-{os.urandom(3).hex()}"
        )
        try:
            return os.open(path, _CREATE, 0o644), path
        except FileExistsError:
            continue
        except FileNotFoundError:  # the staging folder was removed: recreate it once
            os.makedirs(staging, exist_ok=True)
            return os.open(path, _CREATE, 0o644), path


class ArtifactStore:
    """Values in, references out: content-addressed, verified, observable by plugins.

    :param datastore: any :class:`lamina.interfaces.Datastore`; it only moves bytes.
    :param serializers: every installed serializer (``lamina_serializers``); the one with
        the highest priority that handles a value writes it.
    :param hooks: the plugin manager's hook relay (``pm.hook``); when given, the artifact
        lifecycle hooks are called.
    :param stack: the stack this store belongs to, handed to the artifact hooks (None for a
        store built by hand).
    :param verify_reads: re-hash each object before reading it, so corruption is reported
        rather than returned as a wrong value. Costs one sequential read of the file.
    """

    def __init__(
        self,
        datastore: Datastore,
        serializers: Iterable[Serializer],
        *,
        hooks: Any = None,
        stack: Any = None,
        verify_reads: bool = True,
    ) -> None:
        self.datastore = datastore
        self.serializers = SerializerRegistry(serializers)
        self.hooks = hooks
        self.stack = stack
        self.verify_reads = verify_reads
        self._put_blob = getattr(datastore, "put_blob", None)  # optional fast path
        self._local_blob_path = getattr(datastore, "local_blob_path", None)  # idem
        self._commit_buffers = getattr(datastore, "commit_buffers", None)  # idem

    # -- values ------------------------------------------------------------------------

    def save(self, value: Any, *, name: str) -> tuple[ArtifactRef, bool]:
        """Store ``value``; return its reference and whether new bytes were written.

        ``name`` says what the value is (``RUN/STEP/INDEX``) in hooks and error messages.
        If the preferred serializer fails (an Arrow conversion of an odd column, say) the
        next one that handles the value is tried, with a warning; if all fail a
        :class:`SerializationError` names the value, its type and the serializers.
        """
        try:
            if self.hooks is not None:
                self.hooks.lamina_before_artifact_save(name=name, value=value, stack=self.stack)
            ref, created = self._save(value, name)
        except BaseException as error:
            self._report(name, error)
            raise
        if self.hooks is not None:
            self.hooks.lamina_after_artifact_save(name=name, ref=ref, created=created,
                                                  stack=self.stack)
        return ref, created

    def stage(self, value: Any, *, name: str) -> tuple[ArtifactRef, bytes] | None:
        """Serialize a small ``value`` in memory without storing it: its reference (the
        same :meth:`save` would return) and its bytes, for :meth:`commit_staged` to store
        later, in this process or another. None when the value is big (it spills to a
        file) or its serializer fails: call :meth:`save` then. The
        ``lamina_before_artifact_save`` hook is called here, once the value is staged (it
        sees the value); ``lamina_after_artifact_save`` where it is committed."""
        candidates = self.serializers.candidates(value)
        if not candidates:
            return None
        try:
            staged, data, key, size, info = self._dump(candidates[0], value)
        except Exception:
            return None  # save() tries the other serializers and reports
        if data is None:
            assert staged is not None
            _remove(staged)
            return None
        ref = ArtifactRef(key=key, serializer=candidates[0].name, size=size,
                          type=type_name(value), info=dict(info or {}))
        if self.hooks is not None:
            try:
                self.hooks.lamina_before_artifact_save(name=name, value=value, stack=self.stack)
            except BaseException as error:
                self._report(name, error)
                raise
        return ref, bytes(data)

    def commit_staged(self, ref: ArtifactRef, data: bytes, *, name: str = "") -> bool:
        """Store bytes :meth:`stage` made as object ``ref.key``; True if newly written
        (nothing is written when the object exists)."""
        try:
            created = self._commit_bytes(ref.key, data)
        except OSError as error:
            disk = storage_error(error, f"saving {_label(name)}")
            self._report(name, disk or error)
            if disk is None:
                raise
            raise disk from error
        if self.hooks is not None:
            self.hooks.lamina_after_artifact_save(name=name, ref=ref, created=created,
                                                  stack=self.stack)
        return created

    def _save(self, value: Any, name: str) -> tuple[ArtifactRef, bool]:
        candidates = self.serializers.candidates(value)
        if not candidates:
            self.serializers.choose(value)  # raises the "no serializer" error
        failures: list[tuple[Serializer, BaseException]] = []
        for serializer in candidates:
            held = self._buffers(serializer, value)
            if held is not None:  # a big value in memory: hashed and sent from there
                buffers, key, size, info = held
                try:
                    assert self._commit_buffers is not None
                    created = bool(self._commit_buffers(buffers, key))
                except OSError as error:
                    disk = storage_error(error, f"saving {_label(name)}")
                    if disk is None:
                        raise
                    raise disk from error
                return ArtifactRef(key=key, serializer=serializer.name, size=size,
                                   type=type_name(value), info=dict(info or {})), created
            try:
                staged, data, key, size, info = self._dump(serializer, value)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:
                disk = storage_error(error, f"saving {_label(name)}")
                if disk is not None:  # the disk's problem, not the value's
                    raise disk from error
                failures.append((serializer, error))
                continue
            if failures:
                first, err = failures[0]
                warnings.warn(
                    f"{_label(name)}: serializer {first.name!r} failed on a "
                    f"{type_name(value)} ({type(err).__name__}: {err}); stored it with "
                    f"{serializer.name!r} instead",
                    RuntimeWarning,
                    stacklevel=3,
                )
            try:
                if data is not None:
                    created = self._commit_bytes(key, data)
                else:
                    assert staged is not None
                    try:
                        created = self.datastore.commit_blob(staged, key)
                    finally:
                        _remove(staged)  # consumed by a successful commit; gone on failure too
            except OSError as error:
                disk = storage_error(error, f"saving {_label(name)}")
                if disk is None:
                    raise
                raise disk from error
            ref = ArtifactRef(
                key=key,
                serializer=serializer.name,
                size=size,
                type=type_name(value),
                info=dict(info or {}),
            )
            return ref, created
        tried = "; ".join(f"{s.name!r}: {type(e).__name__}: {e}" for s, e in failures)
        raise SerializationError(
            f"{_label(name)}: cannot serialize a value of type {type_name(value)} (tried {tried})",
            hint="return a picklable value (no open files, locks, sockets or "
            "generators), or install/write a serializer for this type "
            "(hook `lamina_serializers`)",
        ) from failures[-1][1]

    def _buffers(
        self, serializer: Serializer, value: Any
    ) -> tuple[list[memoryview], str, int, dict[str, Any]] | None:
        """A big value's serialized bytes as buffers of its own memory, hashed: (buffers,
        key, size, info); None unless both the datastore (``commit_buffers``) and the
        serializer (``dump_buffers``) offer it and the value is big, or when the
        serializer declines (then :meth:`_dump` writes a staged file)."""
        dump_buffers = getattr(serializer, "dump_buffers", None)
        if self._commit_buffers is None or dump_buffers is None:
            return None
        try:
            held = dump_buffers(value)
        except Exception:  # the file path tries again, and reports what fails there
            return None
        if held is None:
            return None
        buffers, info = held
        buffers = [memoryview(b).cast("B") for b in buffers]
        size = sum(b.nbytes for b in buffers)
        if size <= SMALL_OBJECT:  # written from memory in one piece anyway
            return None
        return buffers, buffers_digest(buffers), size, info

    def _dump(
        self, serializer: Serializer, value: Any
    ) -> tuple[str | None, bytes | None, str, int, dict[str, Any]]:
        """Serialize ``value``: (staged path, None, ...) for a big value, streamed to a
        staged file; (None, bytes, ...) for a small one, kept in memory. Then key, size,
        info."""
        staged: list[str] = []

        def open_spill() -> Any:
            fd, path = _create_staged(self.datastore.staging_dir())
            staged.append(path)
            return open(fd, "wb")

        writer = SpillingHashWriter(open_spill, SMALL_OBJECT)
        try:
            info = serializer.dump(value, writer)  # type: ignore[arg-type]  # a binary file
            writer.flush()
        except BaseException:
            if writer.spilled_file is not None:
                writer.spilled_file.close()
            for path in staged:
                _remove(path)
            raise
        if writer.spilled_file is not None:
            writer.spilled_file.close()
            return staged[0], None, writer.hexdigest(), writer.size, info
        return None, writer.in_memory, writer.hexdigest(), writer.size, info

    def _commit_bytes(self, key: str, data: bytes) -> bool:
        """Store in-memory bytes as object ``key``; True if new bytes were written."""
        if self._put_blob is not None:
            return bool(self._put_blob(key, data))
        fd, staged = _create_staged(self.datastore.staging_dir())
        try:
            with open(fd, "wb") as f:
                f.write(data)
            return self.datastore.commit_blob(staged, key)
        finally:
            _remove(staged)

    def load(
        self, ref: ArtifactRef, *, name: str = "",
        refuse_code: Callable[[str], BaseException] | None = None,
        held: bytes | None = None,
    ) -> Any:
        """The value ``ref`` points to, after checking the object's size and hash.

        ``name`` (``RUN/STEP/INDEX``) is used in error messages so that a corrupt or
        missing object names the task that produced it.

        :param refuse_code: when given, a value whose serializer runs code as it loads (a
            pickle: ``runs_code``) is not loaded: the error it returns for the
            serializer's name is raised before a byte is read (see
            :mod:`lamina.datastore.trust`).
        :param held: the object's bytes as :meth:`stage` made them, when the caller holds
            them (a task given its foreach element): decoded without reading them back.
        """
        try:
            serializer = self.serializers.get(ref.serializer)
            if refuse_code is not None and getattr(serializer, "runs_code", False):
                raise refuse_code(serializer.name)
            path: str
            data: bytes | None
            if held is not None and getattr(serializer, "loads", None) is not None:
                path, data = "", held  # the bytes stage() made: what the key hashes
            else:
                path, data = self._verified_read(ref.key, name, size=ref.size)
            try:
                loads = getattr(serializer, "loads", None) if data is not None else None
                value = loads(data) if loads is not None else serializer.load(path)
            except LaminaError:
                raise
            except Exception as error:
                raise SerializationError(
                    f"{_label(name)} (object {ref.key}): serializer {ref.serializer!r} "
                    f"could not read it back as {ref.type or 'a value'}: "
                    f"{type(error).__name__}: {error}",
                    hint="install the library versions the run used (a pickled class "
                    "must be importable under the same module path)",
                ) from error
        except BaseException as error:
            self._report(name, error)
            raise
        if self.hooks is not None:
            self.hooks.lamina_after_artifact_load(ref=ref, value=value, stack=self.stack)
        return value

    # -- raw blobs -----------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store raw bytes (logs, code files) content-addressed; return their key."""
        key = bytes_digest(data)
        try:
            self._commit_bytes(key, bytes(data))
        except OSError as error:
            disk = storage_error(error, "storing an object")
            if disk is None:
                raise
            raise disk from error
        return key

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store a file's bytes content-addressed (copied, streamed); return their key."""
        fd, staged = _create_staged(self.datastore.staging_dir())
        try:
            with open(fd, "wb") as out, open(path, "rb") as src:
                writer = HashingWriter(out)
                while chunk := src.read(1024 * 1024):
                    writer.write(chunk)
            key = writer.hexdigest()
            self.datastore.commit_blob(staged, key)
        finally:
            _remove(staged)
        return key

    def get_bytes(self, key: str, *, name: str = "") -> bytes:
        """The raw bytes stored under ``key``, verified like :meth:`load`."""
        path, data = self._verified_read(key, name)
        if data is not None:
            return data
        with open(path, "rb") as f:
            return f.read()

    def has(self, key: str) -> bool:
        """Whether object ``key`` is stored."""
        return self.datastore.has_blob(key)

    def verify(self, key: str, *, size: int | None = None, name: str = "") -> str:
        """Re-hash object ``key`` (whatever ``verify_reads`` says); return its local path.

        Raises :class:`CorruptArtifactError` or :class:`ArtifactNotFoundError`.
        """
        return self._verified_read(key, name, size=size, force=True)[0]

    def damage(self, ref: ArtifactRef, *, name: str = "") -> str | None:
        """Why the stored object of ``ref`` cannot be reused, or None when it is whole:
        it must be present with its recorded size, and its bytes must hash to its key
        where that is cheap (objects up to :data:`REUSE_HASH_LIMIT` bytes, or larger ones
        without a valid hash stamp). What a cache hit and ``resume`` ask before reusing a
        result."""
        try:
            if not self.touch(ref.key):
                return f"object {ref.key} is not in the datastore (collected or never stored)"
            if ref.size <= REUSE_HASH_LIMIT:
                self.verify(ref.key, size=ref.size, name=name)
                return None
            path = self.datastore.blob_path(ref.key)
            actual = os.path.getsize(path)
            if actual != ref.size:
                self._discard(ref.key)
                return f"object {ref.key} is {actual:,} bytes, {ref.size:,} were recorded"
            if not stamp_matches(path, ref.key):
                self.verify(ref.key, size=ref.size, name=name)
        except (ArtifactNotFoundError, CorruptArtifactError) as exc:
            self._discard(ref.key)
            return exc.message
        except OSError as exc:
            return f"object {ref.key} cannot be read: {exc.strerror or exc}"
        return None

    def touch(self, key: str) -> bool:
        """Tell the datastore that object ``key`` is reused (a cache hit, a resumed
        result): it looks freshly written to ``lamina gc``, which never deletes an object
        touched within its grace period. False if the object is gone. A datastore without
        ``touch_blob`` answers whether it has the object."""
        touch = getattr(self.datastore, "touch_blob", None)
        if touch is None:
            return bool(self.datastore.has_blob(key))
        return bool(touch(key))

    def _discard(self, key: str) -> None:
        """Drop a damaged object (datastores that offer ``discard_blob``), so that saving
        the value again stores it whole instead of keeping the damaged bytes."""
        discard = getattr(self.datastore, "discard_blob", None)
        if discard is not None:
            try:
                discard(key)
            except (OSError, LaminaError):  # already gone, or not ours to remove
                pass

    def _verified_read(
        self, key: str, name: str, *, size: int | None = None, force: bool = False
    ) -> tuple[str, bytes | None]:
        """The object's local path, checked; and its bytes when it is small enough to be
        read whole (read once: hashed and deserialized from the same bytes)."""
        if not is_object_key(key):
            raise ArtifactNotFoundError(
                f"{_label(name)}: {key!r} is not an object key (64 hex digits)",
                hint="pass the `key` of an ArtifactRef or the result of put_bytes/put_file",
            )
        local = self._local_blob_path(key) if self._local_blob_path is not None else None
        if local is not None and (self.verify_reads or force):
            # a local object: open it straight away (no existence check first), take its
            # size from the open file, and read a small one whole from the same handle
            try:
                f = open(local, "rb", buffering=0)  # noqa: SIM115  # closed just below
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise self._not_found(key, name, f"object {key} not found at {local}") from None
            with f:
                actual_size = os.fstat(f.fileno()).st_size
                self._check_size(key, name, local, actual_size, size)
                if actual_size <= SMALL_OBJECT:
                    whole = f.readall()
                    return local, self._check_digest(key, name, local, bytes_digest(whole), whole)
            path = local
        else:
            try:
                path = self.datastore.blob_path(key)
            except ArtifactNotFoundError as error:
                raise self._not_found(key, name, error.message) from None
            if not (self.verify_reads or force):
                return path, None
            try:
                actual_size = os.path.getsize(path)
            except FileNotFoundError:
                raise ArtifactNotFoundError(
                    f"{_label(name)}: object {key} vanished from {path} while being read",
                    hint=_rerun_hint(name),
                ) from None
            self._check_size(key, name, path, actual_size, size)
        data: bytes | None = None
        if actual_size <= SMALL_OBJECT:
            with open(path, "rb") as source:
                data = source.read()
            digest = bytes_digest(data)
        elif not force and actual_size >= STAMP_MIN_SIZE and stamp_matches(path, key):
            return path, None  # hashed when written, untouched since
        else:
            digest, _ = file_digest(path)
            if digest == key and actual_size >= STAMP_MIN_SIZE:
                stamp(path, key)
        return path, self._check_digest(key, name, path, digest, data)

    def _not_found(self, key: str, name: str, why: str) -> ArtifactNotFoundError:
        return ArtifactNotFoundError(
            f"{_label(name)}: object {key} is not in the datastore "
            f"{getattr(self.datastore, 'url', '')} ({why})",
            hint=_rerun_hint(name),
        )

    @staticmethod
    def _check_size(key: str, name: str, path: str, actual: int, expected: int | None) -> None:
        if expected is not None and actual != expected:
            raise CorruptArtifactError(
                f"{_label(name)}: object {key} at {path} is {actual} bytes, expected "
                f"{expected} ({'truncated' if actual < expected else 'grown'})",
                hint=_rerun_hint(name),
            )

    @staticmethod
    def _check_digest(
        key: str, name: str, path: str, digest: str, data: bytes | None
    ) -> bytes | None:
        if digest != key and legacy_digest(path, data) != key:
            raise CorruptArtifactError(
                f"{_label(name)}: object {key} at {path} does not match its hash (its "
                f"bytes hash to {digest}): the file was altered",
                hint=_rerun_hint(name),
            )
        return data

    # -- small JSON records -------------------------------------------------------------

    def put_json(self, key: str, obj: Any, *, exclusive: bool = False) -> bool:
        """Write a small JSON record atomically; with ``exclusive`` never overwrite (return
        False when it exists)."""
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
        try:
            return bool(self.datastore.put_record(key, data, exclusive=exclusive))
        except OSError as error:
            disk = storage_error(error, f"writing the record {key}")
            if disk is None:
                raise
            raise disk from error

    def get_json(self, key: str) -> Any | None:
        """The record ``key`` decoded, or None if absent."""
        data = self.datastore.get_record(key)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as error:
            raise DatastoreError(
                f"record {key!r} in {getattr(self.datastore, 'url', '')} is not valid JSON "
                f"({error})",
                hint="the record was altered by hand; restore or delete it",
            ) from error

    def list(self, prefix: str) -> list[str]:
        """Keys of the records under ``prefix``, sorted."""
        return self.datastore.list_records(prefix)

    # -- hooks -----------------------------------------------------------------------------

    def _report(self, name: str, error: BaseException) -> None:
        if self.hooks is not None and isinstance(error, Exception):
            self.hooks.lamina_on_artifact_error(name=name, error=error, stack=self.stack)

"""The S3 datastore: content-addressed objects and small JSON records in a bucket.

Layout under ``s3://BUCKET/PREFIX/`` (the same as the file datastore's)::

    objects/ab/abcdef...   immutable objects named by the BLAKE3 of their bytes
    runs/...               run and task records (small JSON)

Safety, object by object:

- an object is uploaded from the staged file (multipart with parallel parts above
  ``multipart_threshold``, never read whole into memory), or from the value's own memory
  (``commit_buffers``: a big numpy array, :mod:`lamina_datastore_s3.upload`), only if a
  HEAD says it is absent;
  S3 shows an object only once its PUT or CompleteMultipartUpload succeeded, and a failed
  multipart upload is aborted, so a reader never sees a partial object;
- a record is one PUT (atomic in S3); an exclusive record is a PUT with
  ``If-None-Match: *``, which the server refuses when the key exists, so two writers
  racing for it get exactly one winner;
- reads download into a local cache by a temporary name and an atomic rename, so numpy
  and Arrow readers memory-map a complete local file; the parts are hashed in order as
  they arrive (:mod:`lamina_datastore_s3.download`), and a file whose bytes hash to its
  key is stamped (``lamina.sdk.stamp``) so the artifact store does not read it again to
  verify it. One that does not match is left unstamped: the store re-hashes it and
  reports it as corrupt.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from lamina.sdk import (
    ArtifactNotFoundError,
    ConfigError,
    DatastoreError,
    LaminaError,
    check_object_key,
    is_object_key,
    new_hash,
    object_key,
    stamp,
)
from lamina_datastore_s3.cache_copy import CacheWriter
from lamina_datastore_s3.download import download
from lamina_datastore_s3.errors import (
    S3DatastoreError,
    error_code,
    is_not_found,
    translate,
)
from lamina_datastore_s3.location import canonical_url, merged_options
from lamina_datastore_s3.upload import upload

log = logging.getLogger(__name__)

#: Top-level folders that belong to the object store, never to records.
RESERVED = ("objects", "tmp")
_TMP_PREFIX = ".tmp-"
#: Error codes meaning "this server does not do conditional PUTs".
_NO_CONDITIONAL = {"NotImplemented", "InvalidArgument", "InvalidRequest", "501"}


def default_cache_dir() -> str:
    """``$LAMINA_CACHE_DIR``, else ``$XDG_CACHE_HOME/lamina/blobs`` (``~/.cache/...``):
    the same cache the core's remote file datastore uses (objects are content-addressed,
    so sharing it is safe)."""
    explicit = os.environ.get("LAMINA_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lamina", "blobs")


def _check_record_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise DatastoreError(
            f"record key {key!r} is not a relative '/'-separated path",
            hint="use keys like 'runs/RUN/tasks/step/0.json' (no leading '/', no '..')",
        )
    if parts[0] in RESERVED:
        raise DatastoreError(
            f"record key {key!r} is inside the reserved folder {parts[0]!r}/",
            hint=f"records may not live under {', '.join(r + '/' for r in RESERVED)}",
        )
    if parts[-1].startswith(_TMP_PREFIX):
        raise DatastoreError(
            f"record key {key!r}: names starting with {_TMP_PREFIX!r} are reserved",
            hint="choose another name",
        )
    return key


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class S3Datastore:
    """Objects and records in ``s3://BUCKET/PREFIX``; see the module docstring.

    :param options: a validated :class:`lamina_datastore_s3.plugin.S3DatastoreOptions`.
    """

    def __init__(self, options: Any) -> None:
        self.location, self.options = merged_options(options)
        #: The URL a remote task needs: bucket, prefix and the non-secret options.
        self.url = canonical_url(self.location, self.options)
        self.verify_reads: bool = self.options.verify_reads
        self.cache_dir = self.options.cache_dir or default_cache_dir()
        self.is_local = False
        self._client: Any = None
        self._transfer_config: Any = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conditional: bool | None = {"on": True, "off": False}.get(
            self.options.conditional_writes
        )

    def __repr__(self) -> str:
        return f"S3Datastore({self.url!r})"

    # -- boto3 -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 S3 client (thread-safe, created on first use, and again in a forked
        child: the local compute forks its workers, and a connection pool shared by two
        processes mixes their responses up)."""
        if self._pid != os.getpid():
            self._lock = threading.Lock()  # a copy held by a parent's thread stays held
            self._client = None
            self._pid = os.getpid()
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        o = self.options
        try:
            session = boto3.session.Session(profile_name=o.profile) if o.profile else (
                boto3.session.Session())
        except Exception as error:
            raise self._error(error, "opening the AWS profile", str(self.location)) from None
        credentials: dict[str, Any] = {}
        if o.access_key_id or o.secret_access_key:
            if not (o.access_key_id and o.secret_access_key):
                raise ConfigError(
                    "s3 datastore: access_key_id and secret_access_key must be set together",
                    hint='set both (as "${VAR}"), or neither to use the standard chain',
                )
            credentials = {
                "aws_access_key_id": o.access_key_id,
                "aws_secret_access_key": o.secret_access_key,
                "aws_session_token": o.session_token,
            }
        config = Config(
            retries={"max_attempts": o.retries, "mode": "standard"},
            connect_timeout=o.connect_timeout,
            read_timeout=o.read_timeout,
            max_pool_connections=max(10, o.max_concurrency + 4),
            s3={"addressing_style": o.addressing_style},
        )
        return session.client(
            "s3", region_name=o.region, endpoint_url=o.endpoint_url, config=config,
            **credentials,
        )

    def _transfer_manager(self) -> Any:
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        o = self.options
        config = TransferConfig(
            multipart_threshold=o.multipart_threshold,
            multipart_chunksize=o.multipart_chunksize,
            max_concurrency=o.max_concurrency,
            num_download_attempts=o.retries,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        return create_transfer_manager(self.client, config)

    def _settings(self) -> str:
        client = self._client
        endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
        region = getattr(getattr(client, "meta", None), "region_name", None)
        endpoint = endpoint or self.options.endpoint_url or "AWS default"
        return f"endpoint {endpoint}, region {region or self.options.region or 'default'}"

    def _error(self, error: BaseException, action: str, where: str) -> LaminaError:
        if isinstance(error, LaminaError):  # already says what is wrong (the client's)
            return error
        return translate(error, action=action, where=where, settings=self._settings(),
                         retries=self.options.retries)

    def _where(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{key}"

    def _write_args(self, *, record: bool) -> dict[str, Any]:
        o = self.options
        args: dict[str, Any] = {}
        if o.sse:
            args["ServerSideEncryption"] = o.sse
            if o.sse_kms_key_id:
                args["SSEKMSKeyId"] = o.sse_kms_key_id
        if o.storage_class and not record:
            args["StorageClass"] = o.storage_class
        return args

    # -- objects ---------------------------------------------------------------------

    def staging_dir(self) -> str:
        # Beside the read cache, so a committed object can be renamed into the cache.
        folder = os.path.join(self.cache_dir, "staging")
        os.makedirs(folder, exist_ok=True)
        return folder

    def _cache_path(self, key: str) -> str:
        return os.path.join(self.cache_dir, key[:2], key)

    def _exists(self, key: str) -> bool:
        bucket = self.location.bucket
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except Exception as error:
            if is_not_found(error):
                return False
            raise self._error(error, "looking up", self._where(key)) from None

    def commit_blob(self, staged_path: str, key: str) -> bool:
        check_object_key(key)
        remote = self.location.key(object_key(key))
        try:
            # stored already: reused, so it looks young to gc. Absent: upload it (never
            # restored from the trash first: the bytes are here, one request fewer)
            if self._freshen(remote, restore=False):
                if self.options.keep_uploads:  # same bytes by construction: a free read
                    self._keep(staged_path, key)
                return False
            size = os.path.getsize(staged_path)
            started = time.perf_counter()
            with self._transfer_manager() as manager:
                future = manager.upload(
                    staged_path, self.location.bucket, remote,
                    extra_args=self._write_args(record=False),
                )
                # s3transfer aborts a failed multipart upload itself (parts are never
                # visible as an object)
                self._wait(future, f"uploading object {key} ({size} bytes)", remote)
            log.debug("uploaded %s (%d bytes) in %.2fs", remote, size,
                      time.perf_counter() - started)
            if self.options.keep_uploads:
                self._keep(staged_path, key)
            return True
        finally:
            _unlink(staged_path)

    def commit_buffers(self, buffers: Sequence[memoryview], key: str) -> bool:
        """Store the concatenation of ``buffers`` (a big value's own memory) as object
        ``key``, uploaded from memory (:mod:`lamina_datastore_s3.upload`): no staged file.
        With ``keep_uploads`` the read-cache copy is written by a second thread while the
        parts go up, and appears only once the upload succeeded."""
        check_object_key(key)
        remote = self.location.key(object_key(key))
        if self._freshen(remote, restore=False):  # stored already: reused (see commit_blob)
            return False
        size = sum(b.nbytes for b in buffers)
        keeper = (CacheWriter(self._cache_path(key), buffers, _TMP_PREFIX)
                  if self.options.keep_uploads else None)
        o = self.options
        started = time.perf_counter()
        try:
            upload(self.client, self.location.bucket, remote, buffers,
                   threshold=o.multipart_threshold, part_size=o.multipart_chunksize,
                   concurrency=o.max_concurrency, extra_args=self._write_args(record=False))
        except (KeyboardInterrupt, SystemExit):
            if keeper is not None:
                keeper.discard()
            raise
        except BaseException as error:
            if keeper is not None:
                keeper.discard()
            raise self._error(error, f"uploading object {key} ({size} bytes)",
                              self._where(remote)) from None
        log.debug("uploaded %s (%d bytes) from memory in %.2fs", remote, size,
                  time.perf_counter() - started)
        if keeper is not None:
            keeper.finish(key)
        return True

    def _wait(self, future: Any, action: str, remote: str) -> None:
        """The end of a transfer; any failure cancels the rest of it (parts still queued)
        and becomes the datastore's error."""
        try:
            future.result()
        except BaseException as error:
            future.cancel()
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            raise self._error(error, action, self._where(remote)) from None

    def _keep(self, staged_path: str, key: str) -> None:
        """Link the uploaded file into the read cache (same filesystem: no copy)."""
        local = self._cache_path(key)
        try:
            os.makedirs(os.path.dirname(local), exist_ok=True)
            os.chmod(staged_path, 0o444)
            stamp(staged_path, key)  # the store hashed these bytes as it staged them
            os.link(staged_path, local)  # never replaces a cached copy
        except OSError:  # a cache is an optimisation; never fail a commit for it
            pass

    def has_blob(self, key: str) -> bool:
        if not is_object_key(key):
            return False
        remote = self.location.key(object_key(key))
        return self._exists(remote) or self._restore(remote)

    def blob_path(self, key: str) -> str:
        check_object_key(key)
        local = self._cache_path(key)
        if os.path.isfile(local):
            return local
        remote = self.location.key(object_key(key))
        folder = os.path.dirname(local)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX)
        os.close(fd)
        try:
            try:
                digest = self._download(remote, tmp, key)
            except ArtifactNotFoundError:
                if not self._restore(remote):  # collected a moment ago: back from the trash
                    raise
                digest = self._download(remote, tmp, key)
            os.chmod(tmp, 0o444)
            if digest == key:  # hashed on the way in: the store need not read it again
                stamp(tmp, key)  # (a mismatch is left to the store to report, unstamped)
            os.replace(tmp, local)
        finally:
            _unlink(tmp)
        return local

    def _download(self, remote: str, path: str, key: str) -> str:
        """Object ``remote`` into the file ``path``, hashed as it arrives; its digest."""
        o = self.options
        started = time.perf_counter()
        try:
            digest = download(
                self.client, self.location.bucket, remote, path,
                part_size=o.multipart_chunksize, concurrency=o.max_concurrency,
                attempts=o.retries, new_hash=new_hash,
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            if isinstance(error, OSError) and error.errno is not None and not isinstance(
                    error, ConnectionError | TimeoutError):
                raise  # the local disk's (full, read-only): the store reports it as such
            if is_not_found(error):
                raise ArtifactNotFoundError(
                    f"object {key} not found at {self._where(remote)}",
                    hint="the run that produced it may have been deleted; rerun it",
                ) from None
            raise self._error(error, f"downloading object {key}", self._where(remote)) from None
        log.debug("downloaded %s (%d bytes) in %.2fs", remote, os.path.getsize(path),
                  time.perf_counter() - started)
        return digest

    # -- records ---------------------------------------------------------------------

    def put_record(self, key: str, data: bytes, *, exclusive: bool = False) -> bool:
        remote = self.location.key(_check_record_key(key))
        args = self._write_args(record=True)
        if exclusive and self._conditional_supported():
            return self._put_if_absent(remote, data, args)
        if exclusive and self._exists(remote):  # fallback: check, then write
            return False
        self._put(remote, data, args)
        return True

    def _put(self, remote: str, data: bytes, args: dict[str, Any]) -> None:
        try:
            self.client.put_object(Bucket=self.location.bucket, Key=remote, Body=data, **args)
        except Exception as error:
            raise self._error(error, "writing record", self._where(remote)) from None

    def _put_if_absent(self, remote: str, data: bytes, args: dict[str, Any]) -> bool:
        for attempt in range(self.options.retries):
            try:
                self.client.put_object(
                    Bucket=self.location.bucket, Key=remote, Body=data, IfNoneMatch="*", **args
                )
                return True
            except Exception as error:
                code = error_code(error)
                if code in ("PreconditionFailed", "412"):
                    return False
                if code in ("ConditionalRequestConflict", "409") and (
                        attempt + 1 < self.options.retries):
                    time.sleep(0.05 * 2**attempt)  # a racing writer is finishing
                    continue
                raise self._error(error, "writing exclusive record",
                                  self._where(remote)) from None
        return False  # pragma: no cover - the loop returns or raises

    def _conditional_supported(self) -> bool:
        """Whether the server honours ``If-None-Match: *`` (asked once, with a probe)."""
        if self._conditional is not None:
            return self._conditional
        probe = self.location.key(f"_lamina/probe-{uuid.uuid4().hex}")
        bucket = self.location.bucket
        args = self._write_args(record=True)
        try:
            self._put(probe, b"1", args)
            try:
                self.client.put_object(
                    Bucket=bucket, Key=probe, Body=b"2", IfNoneMatch="*", **args
                )
                supported = False  # the second write went through: the header is ignored
            except Exception as error:
                code = error_code(error)
                if code in ("PreconditionFailed", "412"):
                    supported = True
                elif code in _NO_CONDITIONAL:
                    supported = False
                else:
                    raise self._error(error, "probing conditional writes",
                                      self._where(probe)) from None
        finally:
            try:
                self.client.delete_object(Bucket=bucket, Key=probe)
            except Exception:
                pass
        if not supported:
            log.warning(
                "s3 datastore %s: the server ignores If-None-Match; exclusive records fall "
                "back to check-then-write (a race between two writers of one record is "
                "possible)", self.url,
            )
        self._conditional = supported
        return supported

    def get_record(self, key: str) -> bytes | None:
        remote = self.location.key(_check_record_key(key))
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=remote)
            return bytes(response["Body"].read())
        except Exception as error:
            if is_not_found(error):
                return None
            raise self._error(error, "reading record", self._where(remote)) from None

    def discard_blob(self, key: str) -> bool:
        """Remove object ``key`` found damaged (and its cached copy), so that the value
        computed again is stored whole under its key; True if it existed."""
        check_object_key(key)
        cached = self._cache_path(key)
        if os.path.isfile(cached):
            os.unlink(cached)
        remote = self.location.key(object_key(key))
        existed = self._exists(remote)
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=remote)
        except Exception as error:
            raise self._error(error, "deleting damaged object", self._where(remote)) from None
        return existed

    def delete_record(self, key: str) -> bool:
        """Remove a record (probes, locks); True if it existed."""
        remote = self.location.key(_check_record_key(key))
        existed = self._exists(remote)
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=remote)
        except Exception as error:
            raise self._error(error, "deleting record", self._where(remote)) from None
        return existed

    def _list(self, rel_prefix: str) -> list[dict[str, Any]]:
        prefix = self.location.key(rel_prefix) if rel_prefix else self.location.prefix
        if prefix:
            prefix += "/"
        found: list[dict[str, Any]] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            )
            for page in pages:
                found.extend(page.get("Contents", ()))
        except Exception as error:
            raise self._error(error, "listing", self._where(prefix)) from None
        return found

    def list_records(self, prefix: str) -> list[str]:
        prefix = prefix.strip("/")
        if prefix:
            _check_record_key(prefix)
        out = []
        for item in self._list(prefix):
            rel = self.location.rel(item["Key"])
            parts = rel.split("/")
            if parts[0] in RESERVED or parts[0] == "_lamina" or parts[-1].startswith(_TMP_PREFIX):
                continue
            if rel.endswith("/"):  # a folder marker some tools create
                continue
            out.append(rel)
        return sorted(out)

    def count_objects(self) -> int:
        """How many objects are stored (lists ``objects/``: slow on a huge store)."""
        return len(self._list("objects"))

    # -- retention (lamina.sdk.CollectableDatastore) --------------------------------------
    #
    # ``delete_blob`` first copies the object to ``_lamina/trash/`` on condition that it
    # was not modified since ``older_than`` (CopySourceIfUnmodifiedSince: a writer's touch
    # makes the copy fail and the object stays), then deletes it. A touch that lands
    # between the copy and the delete is not lost: every read or touch of a missing
    # object restores it from the trash, which ``purge_trash`` empties one grace period
    # later.

    def scan(self, prefix: str) -> Any:
        """Stream ``(key, size, mtime)`` under ``prefix``, page by page (1,000 keys at a
        time), never the whole listing in memory. ``""``: every record (the top-level
        folders other than ``objects/`` are listed one by one, so objects are not)."""
        prefix = prefix.strip("/")
        if prefix:
            yield from self._scan_under(self.location.key(prefix) + "/")
            return
        base = self.location.prefix + "/" if self.location.prefix else ""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=base, Delimiter="/")
            tops: list[str] = []
            for page in pages:
                tops.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
                for item in page.get("Contents", ()):
                    rel = self.location.rel(item["Key"])
                    if not rel.startswith(_TMP_PREFIX) and not rel.endswith("/"):
                        yield rel, int(item.get("Size", 0)), item["LastModified"].timestamp()
        except Exception as error:
            raise self._error(error, "listing", self._where(base)) from None
        for top in tops:
            if self.location.rel(top).strip("/") not in (*RESERVED, "_lamina"):
                yield from self._scan_under(top)

    def _scan_under(self, full: str) -> Any:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=full)
            for page in pages:
                for item in page.get("Contents", ()):
                    rel = self.location.rel(item["Key"])
                    if rel.endswith("/") or rel.rsplit("/", 1)[-1].startswith(_TMP_PREFIX):
                        continue
                    yield rel, int(item.get("Size", 0)), item["LastModified"].timestamp()
        except Exception as error:
            raise self._error(error, "listing", self._where(full)) from None

    def _trash_key(self, remote: str) -> str:
        return self.location.key("_lamina/trash/" + self.location.rel(remote))

    def _copy(self, source: str, target: str, **conditions: Any) -> bool:
        """Copy ``source`` to ``target`` (the same key: refresh its LastModified); False
        if the source is absent or a condition failed."""
        bucket = self.location.bucket
        try:
            self.client.copy_object(
                Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source},
                MetadataDirective="REPLACE", Metadata={"lamina-touched": f"{time.time():.3f}"},
                **conditions,
            )
            return True
        except Exception as error:
            if is_not_found(error) or error_code(error) in ("PreconditionFailed", "412"):
                return False
            raise self._error(error, "copying", self._where(source)) from None

    def _freshen(self, remote: str, *, restore: bool = True) -> bool:
        """A writer reuses ``remote``: refresh its LastModified unless it is recent
        (``touch_after``), so gc sees it as young; False if it is gone (and, with
        ``restore``, not in the trash either)."""
        bucket = self.location.bucket
        try:
            head = self.client.head_object(Bucket=bucket, Key=remote)
        except Exception as error:
            if not is_not_found(error):
                raise self._error(error, "looking up", self._where(remote)) from None
            return restore and self._restore(remote)
        if time.time() - head["LastModified"].timestamp() < self.options.touch_after:
            return True
        return self._copy(remote, remote) or (restore and self._restore(remote))

    def _restore(self, remote: str) -> bool:
        """Put an object gc deleted a moment ago back from the trash; False if none."""
        return self._copy(self._trash_key(remote), remote)

    @property
    def fresh_for(self) -> float:
        """Seconds during which a reused object is not touched again (``touch_after``):
        ``lamina gc`` needs a grace period of at least twice this."""
        return float(self.options.touch_after)

    def touch_blob(self, key: str) -> bool:
        """Refresh object ``key``'s LastModified (a writer reuses it); False if absent."""
        check_object_key(key)
        return self._freshen(self.location.key(object_key(key)))

    def delete_blob(self, key: str, *, older_than: float) -> int | None:
        """Delete object ``key`` unless it was modified or touched since ``older_than``;
        the bytes freed, or None. A copy stays in the trash for one grace period."""
        import datetime as dt

        check_object_key(key)
        remote = self.location.key(object_key(key))
        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=remote)
        except Exception as error:
            if is_not_found(error):
                return None
            raise self._error(error, "looking up", self._where(remote)) from None
        if head["LastModified"].timestamp() >= older_than:
            return None
        since = dt.datetime.fromtimestamp(older_than, dt.UTC)
        if not self._copy(remote, self._trash_key(remote), CopySourceIfUnmodifiedSince=since):
            return None
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=remote)
        except Exception as error:
            raise self._error(error, "deleting object", self._where(remote)) from None
        cached = self._cache_path(key)
        if os.path.isfile(cached):
            _unlink(cached)
        return int(head.get("ContentLength", 0))

    def purge_trash(self, older_than: float) -> int:
        """Delete trashed objects moved there before ``older_than``; how many."""
        prefix = self.location.key("_lamina/trash") + "/"
        removed = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", ()):
                    if item["LastModified"].timestamp() < older_than:
                        self.client.delete_object(Bucket=self.location.bucket, Key=item["Key"])
                        removed += 1
        except Exception as error:
            raise self._error(error, "emptying the trash", self._where(prefix)) from None
        return removed

    def abort_stale_uploads(self, older_than: float = 24 * 3600) -> int:
        """Abort multipart uploads under the prefix started more than ``older_than``
        seconds ago: their parts cost storage but are never visible as objects. They are
        left only when a writer died or lost the network before it could abort. Returns
        how many were aborted. (A bucket lifecycle rule
        ``AbortIncompleteMultipartUpload`` does the same server-side.)"""
        import datetime as dt

        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        bucket = self.location.bucket
        aborted = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=bucket, Prefix=self.location.key("objects/")
            )
            for page in pages:
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except Exception as error:
            raise self._error(error, "aborting stale uploads", str(self.location)) from None
        return aborted

    # -- health ----------------------------------------------------------------------

    def check(self) -> str:
        """Reach the bucket: HEAD it, then write, read back and delete a probe record.
        Raises :class:`S3DatastoreError` (a ``BackendUnreachableError``) whose ``reason``
        says which of missing bucket, access denied, bad or absent credentials, wrong
        region or unreachable endpoint it is."""
        bucket = self.location.bucket
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as error:
            if not error_code(error).isdigit():
                raise self._error(error, f"checking bucket {bucket!r}", str(self.location)) from None
            # A HEAD answer has no body, so "403" may be bad credentials or a policy;
            # a listing says which (and a user who may list but not HEAD is fine).
            try:
                self.client.list_objects_v2(Bucket=bucket, MaxKeys=1,
                                            Prefix=self.location.key("runs/"))
            except Exception as detailed:
                if error_code(detailed).isdigit():
                    detailed = error
                raise self._error(detailed, f"checking bucket {bucket!r}",
                                  str(self.location)) from None
        probe = f"_lamina/check-{uuid.uuid4().hex}"
        remote = self.location.key(probe)
        self._put(remote, b"probe", self._write_args(record=True))
        try:
            back = self.client.get_object(Bucket=bucket, Key=remote)["Body"].read()
        except Exception as error:
            raise self._error(error, "reading back a probe", self._where(remote)) from None
        finally:
            try:
                self.client.delete_object(Bucket=bucket, Key=remote)
            except Exception:
                pass
        if back != b"probe":
            raise S3DatastoreError(
                f"s3 datastore at {self.location}: wrote a probe and read back {back[:40]!r}",
                hint="the server or a proxy alters objects; check the endpoint",
            )
        conditional = "supported" if self._conditional_supported() else (
            "not honoured by the server (check-then-write fallback)")
        return (f"s3 datastore at {self.location} ({self._settings()}): reachable and "
                f"writable; conditional writes {conditional}")

    def close(self) -> None:
        """Release the HTTP connection pool."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

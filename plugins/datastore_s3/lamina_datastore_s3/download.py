"""Download an object in parallel ranged parts and hash it, in order, as the bytes land.

Why not ``s3transfer``'s download: it sends a HEAD before the first GET, and the content
hash could only be checked by a second pass over the finished file (on two cores, 0.25 s
per GB and a page-cache re-read), which put a verified load behind a plain
``download_file``. Here the first ranged GET tells the object's size, the other parts go
out at once on ``concurrency`` threads, each worker writes its bytes at their offset
(``os.pwrite``, no queue, no extra copy), and the calling thread hashes the file's bytes
in order while the parts are still arriving: when the last part lands, the hash is done
but for its last chunk.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lamina_datastore_s3.errors import error_code

#: How many bytes a worker reads from the socket and writes at a time, and how many the
#: hash takes per step.
CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class _Part:
    """One byte range: how much of it is on disk, told to the hashing thread."""

    __slots__ = ("end", "filled", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.filled = 0  # bytes of this part written, from its start, contiguous


class _Progress:
    """What the workers have written, and the first failure; the hasher waits on it."""

    def __init__(self, parts: list[_Part]) -> None:
        self.parts = parts
        self.changed = threading.Condition()
        self.error: BaseException | None = None

    def wrote(self, part: _Part, n: int) -> None:
        with self.changed:
            part.filled += n
            self.changed.notify_all()

    def failed(self, error: BaseException) -> None:
        with self.changed:
            if self.error is None:
                self.error = error
            self.changed.notify_all()

    def wait_for(self, part: _Part, beyond: int) -> int:
        """How much of ``part`` is written, once it is more than ``beyond`` bytes."""
        with self.changed:
            while part.filled <= beyond and self.error is None:
                self.changed.wait()
            if self.error is not None:
                raise self.error
            return part.filled


if sys.platform == "win32":  # no pwrite there: the workers take turns to seek and write
    _SEEK = threading.Lock()

    def _pwrite(fd: int, data: memoryview, offset: int) -> int:
        with _SEEK:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.write(fd, data)
else:
    _pwrite = os.pwrite


def _write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (one write may take fewer bytes than given)."""
    view = memoryview(data)
    while view:
        n = _pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(f"wrote nothing at byte {offset}")
        view, offset = view[n:], offset + n


def _retryable(error: BaseException) -> bool:
    """A connection cut while a body streams (botocore retried the request itself)."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(error, BotoConnectionError | IncompleteReadError | ReadTimeoutError
                      | Urllib3Error | ConnectionError | TimeoutError)


def download(
    client: Any, bucket: str, remote: str, path: str, *,
    part_size: int, concurrency: int, attempts: int,
    new_hash: Callable[[], Any],
) -> str:
    """Write object ``remote`` to the (new, empty) file ``path``; return the hex digest
    of the bytes written, computed by ``new_hash()`` while they arrive.

    A body cut off mid-stream is asked for again from where it stopped, up to
    ``attempts`` times per part; every part after the first is sent with ``If-Match`` on
    the first answer's ETag, so the parts always come from one version of the object.
    Errors of the requests themselves (missing object, access denied) are raised as
    botocore raised them.
    """
    try:
        first = client.get_object(Bucket=bucket, Key=remote, Range=f"bytes=0-{part_size - 1}")
    except Exception as error:
        if error_code(error) not in ("InvalidRange", "416"):
            raise
        first = client.get_object(Bucket=bucket, Key=remote)  # an empty object
    total, ranged = _total_size(first)
    etag = first.get("ETag")
    if ranged:
        parts = [_Part(start, min(start + part_size, total))
                 for start in range(0, total, part_size)] or [_Part(0, 0)]
    else:  # the server sent the whole object: one part
        parts = [_Part(0, total)]
    progress = _Progress(parts)
    stop = threading.Event()
    digest = new_hash()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
    try:
        if total:
            os.ftruncate(fd, total)

        def fetch(part: _Part, body: Any = None) -> None:
            try:
                _fetch_part(client, bucket, remote, etag, fd, part, body, progress, stop,
                            attempts)
            except BaseException as error:
                progress.failed(error)

        workers = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(parts))),
                                     thread_name_prefix="lamina-s3-get")
        try:
            workers.submit(fetch, parts[0], first["Body"])
            for part in parts[1:]:
                workers.submit(fetch, part)
            _hash_in_order(path, parts, progress, digest)
        except BaseException:
            stop.set()
            raise
        finally:
            workers.shutdown(wait=True, cancel_futures=True)
    finally:
        os.close(fd)
    return str(digest.hexdigest())


def _total_size(response: dict[str, Any]) -> tuple[int, bool]:
    """The object's size, and whether the answer is a range of it."""
    match = _RANGE.fullmatch(str(response.get("ContentRange") or ""))
    if match:
        return int(match.group(3)), True
    # no Content-Range: the server sent the whole object (it ignores Range, or the
    # object is empty)
    return int(response.get("ContentLength") or 0), False


def _fetch_part(
    client: Any, bucket: str, remote: str, etag: str | None, fd: int, part: _Part,
    body: Any, progress: _Progress, stop: threading.Event, attempts: int,
) -> None:
    for attempt in range(attempts):
        offset = part.start + part.filled
        if offset >= part.end:
            return
        if stop.is_set():
            return
        try:
            if body is None:
                args: dict[str, Any] = {"IfMatch": etag} if etag else {}
                response = client.get_object(Bucket=bucket, Key=remote,
                                             Range=f"bytes={offset}-{part.end - 1}", **args)
                body = response["Body"]
                got = _RANGE.fullmatch(str(response.get("ContentRange") or ""))
                if got is None or int(got.group(1)) != offset:
                    raise OSError(  # never write bytes at the wrong place
                        f"asked {remote} for bytes {offset}-{part.end - 1}, the server "
                        f"answered {response.get('ContentRange') or 'the whole object'}")
            while offset < part.end:
                if stop.is_set():
                    return
                chunk = body.read(min(CHUNK, part.end - offset))
                if not chunk:
                    raise ConnectionError(
                        f"the body of {remote} ended at byte {offset} of {part.end}")
                _write_at(fd, chunk, offset)
                offset += len(chunk)
                progress.wrote(part, len(chunk))
            return
        except BaseException as error:
            if attempt + 1 >= attempts or not _retryable(error):
                raise
        finally:
            if body is not None:
                body.close()
            body = None


def _hash_in_order(path: str, parts: list[_Part], progress: _Progress, digest: Any) -> None:
    """Hash the file's bytes front to back, each as soon as it is written (read back from
    the page cache, where the worker's write just put it)."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:  # this thread's own file: seek, then read
        for part in parts:
            hashed = 0
            size = part.end - part.start
            while hashed < size:
                ready = progress.wait_for(part, hashed)
                while hashed < ready:
                    f.seek(part.start + hashed)
                    n = f.readinto(view[: min(CHUNK, ready - hashed)])
                    if not n:
                        raise OSError(f"{path} is shorter than the bytes written to it")
                    digest.update(view[:n])
                    hashed += n

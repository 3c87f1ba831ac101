"""Upload an object from buffers in memory: one PUT, or a multipart upload of parallel parts.

Why not ``s3transfer``'s upload: it takes a file (or reads each part of a file object
into memory first), so a value held in memory had to be written to a staged file before
the first byte went out (at 2 GiB, 0.8-3.6 s of page-cache work beside the upload). Here
each part's body is a read-only view of the caller's buffers (:class:`BufferReader`):
nothing is copied: botocore's checksums and urllib3's sends read slices of the views.

The requests are the ones ``s3transfer`` makes, with the same extra arguments: CRC32
checksums on the parts when the client computes checksums (botocore's default), the
write arguments (encryption, storage class) on ``CreateMultipartUpload`` only, and an
``AbortMultipartUpload`` when any part fails, so that no partial object is ever visible
and no parts are left behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any


class BufferReader(io.RawIOBase):
    """A read-only, seekable file over a run of byte views (a part may span the header
    and the value's memory), whose ``read`` returns slices of them."""

    def __init__(self, views: Sequence[memoryview]) -> None:
        super().__init__()
        self._views = [v.toreadonly() for v in views if v.nbytes]
        self._starts: list[int] = []
        total = 0
        for view in self._views:
            self._starts.append(total)
            total += view.nbytes
        self._size = total
        self._pos = 0

    def __len__(self) -> int:  # botocore's Content-Length
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """The next ``size`` bytes. Within one view they are a read-only slice of it, not
        a copy: botocore hashes them (CRC32, the SigV4 payload SHA-256) and urllib3 sends
        them (16 KiB at a time), and copying each block cost more CPU than either hash."""
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        if len(self._views) == 1:  # most parts: one view
            data = self._views[0][self._pos : end]
            self._pos = end
            return data  # type: ignore[return-value]  # bytes-like: what every reader takes
        pieces = []
        for start, view in zip(self._starts, self._views, strict=True):
            stop = start + view.nbytes
            if stop <= self._pos or start >= end:
                continue
            pieces.append(view[max(self._pos, start) - start : min(end, stop) - start])
        self._pos = end
        if len(pieces) == 1:  # within one view: a slice, as above
            return pieces[0]  # type: ignore[return-value]
        return b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        data = self.read(memoryview(buffer).nbytes)
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


def split(buffers: Sequence[memoryview], part_size: int) -> list[list[memoryview]]:
    """The views of each part of ``part_size`` bytes (the last one shorter)."""
    parts: list[list[memoryview]] = [[]]
    room = part_size
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        while view.nbytes:
            if not room:
                parts.append([])
                room = part_size
            take = min(room, view.nbytes)
            parts[-1].append(view[:take])
            view = view[take:]
            room -= take
    return parts


def upload(
    client: Any, bucket: str, key: str, buffers: Sequence[memoryview], *,
    threshold: int, part_size: int, concurrency: int, extra_args: dict[str, Any],
) -> None:
    """Store the concatenation of ``buffers`` as ``key``: one PUT below ``threshold``
    bytes, else a multipart upload of ``part_size`` parts on ``concurrency`` threads,
    aborted when a part fails. Raises the client's error."""
    size = sum(memoryview(b).nbytes for b in buffers)
    if size < threshold:
        client.put_object(Bucket=bucket, Key=key, Body=BufferReader(buffers), **extra_args)
        return
    part_args: dict[str, Any] = {}
    if getattr(client.meta.config, "request_checksum_calculation", None) == "when_supported":
        part_args["ChecksumAlgorithm"] = "CRC32"  # as s3transfer asks
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key, **extra_args, **part_args)["UploadId"]
    try:
        parts = split(buffers, part_size)

        def send(number: int, views: list[memoryview]) -> dict[str, Any]:
            response = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                Body=BufferReader(views), **part_args,
            )
            done = {"ETag": response["ETag"], "PartNumber": number}
            if "ChecksumCRC32" in response and part_args:
                done["ChecksumCRC32"] = response["ChecksumCRC32"]
            return done

        pool = ThreadPoolExecutor(min(concurrency, len(parts)),
                                  thread_name_prefix="lamina-s3-put")
        try:
            futures = [pool.submit(send, n, views) for n, views in enumerate(parts, 1)]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:  # in part order: the first failure is raised
                if future in finished and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            done = [future.result() for future in futures]
        finally:  # on a failure (or Ctrl-C) the parts not yet started are never sent
            pool.shutdown(wait=True, cancel_futures=True)
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # the server may be gone; abort_stale_uploads cleans up later
            pass
        raise

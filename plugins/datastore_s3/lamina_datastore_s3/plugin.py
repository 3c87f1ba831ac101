"""The ``s3`` datastore component: options and registration.

This module is imported whenever lamina collects plugins (``lamina --help`` included), so
it holds only the options class; boto3 is imported by the factory when a stack builds the
datastore.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import ComponentSpec, hookimpl

#: Server-side encryption modes S3 knows.
SSE_MODES = ("AES256", "aws:kms", "aws:kms:dsse")
#: Storage classes S3 knows (S3-compatible stores accept a subset).
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
)
_MIB = 1024 * 1024


def _url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value.startswith(("s3://", "s3a://")) or not value.split("://", 1)[1].strip("/"):
        raise ValueError(f"url must look like s3://BUCKET/PREFIX, got {value!r}")


def _at_least(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum}, got {value!r}")

    return check


def _kms_needs_sse(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value and not (instance.sse or "").startswith("aws:kms"):
        raise ValueError('sse_kms_key_id needs sse = "aws:kms" (or "aws:kms:dsse")')


@attrs.frozen
class S3DatastoreOptions:
    """Options of the ``s3`` datastore: objects and run records in an S3 bucket.

    Anything left unset comes from the standard AWS configuration (environment variables
    ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``~/.aws/config``...), which is
    also how a remote task (``python -m lamina task --datastore s3://...``) finds them.

    :param url: ``s3://BUCKET/PREFIX``; objects go under ``PREFIX/objects/``, run records
        under ``PREFIX/runs/``. Non-secret options may ride along as a query
        (``s3://b/p?endpoint_url=http://host:9000&sse=AES256``), which remote tasks inherit.
    :param region: the bucket's region; default from the AWS configuration.
    :param endpoint_url: an S3-compatible server (MinIO, Ceph, SeaweedFS, R2); default
        AWS, or ``AWS_ENDPOINT_URL``.
    :param profile: a named profile of ``~/.aws/config``; default the standard chain.
    :param access_key_id: explicit credentials, for stores outside AWS; write
        ``"${MY_KEY_ID}"`` so the value comes from the environment, never the file.
    :param secret_access_key: the secret paired with ``access_key_id`` (use ``${VAR}``).
    :param session_token: a temporary session token (use ``${VAR}``).
    :param sse: server-side encryption of every object and record written: ``AES256``
        (SSE-S3) or ``aws:kms`` (SSE-KMS).
    :param sse_kms_key_id: the KMS key for ``sse = "aws:kms"``; default the bucket's key.
    :param storage_class: storage class of objects (records always use STANDARD).
    :param max_concurrency: parallel part uploads/downloads of one large object.
    :param multipart_threshold: objects at least this many bytes go up in parts
        (default 8 MiB, boto3's).
    :param multipart_chunksize: the part size in bytes, up and down (S3's minimum is
        5 MiB; default 8 MiB, boto3's).
    :param retries: attempts per request (first try included) on throttling and network
        errors, with exponential back-off.
    :param connect_timeout: seconds to wait for a TCP connection.
    :param read_timeout: seconds to wait for a response (per read).
    :param addressing_style: ``auto``, ``path`` (most self-hosted stores) or ``virtual``.
    :param conditional_writes: records that must never be overwritten use
        ``If-None-Match: *``. ``auto`` checks once that the server honours it and falls back
        to check-then-write when it does not; ``on`` requires it; ``off`` never sends it.
    :param cache_dir: where objects are downloaded for reading (memory-mapped loads);
        default ``$LAMINA_CACHE_DIR`` or ``~/.cache/lamina/blobs``.
    :param keep_uploads: after uploading an object, keep the staged file in the read cache,
        so reading back what this machine wrote costs no download.
    :param verify_reads: re-hash every object when it is read.
    :param touch_after: seconds; a writer that finds the object it would upload already
        stored refreshes its LastModified (one COPY request) so that ``lamina gc`` sees it
        as in use, unless it was written less than this long ago. ``lamina gc`` refuses a
        grace period shorter than twice this (docs/retention.md).
    """

    url: str = attrs.field(validator=_url)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    sse: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.in_(SSE_MODES)))
    sse_kms_key_id: str | None = attrs.field(default=None, validator=_kms_needs_sse)
    storage_class: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.in_(STORAGE_CLASSES)))
    max_concurrency: int = attrs.field(default=10, validator=_at_least(1))
    multipart_threshold: int = attrs.field(default=8 * _MIB, validator=_at_least(5 * _MIB))
    multipart_chunksize: int = attrs.field(default=8 * _MIB, validator=_at_least(5 * _MIB))
    retries: int = attrs.field(default=5, validator=_at_least(1))
    connect_timeout: float = attrs.field(default=10.0, validator=_at_least(0))
    read_timeout: float = attrs.field(default=60.0, validator=_at_least(0))
    addressing_style: str = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "path", "virtual")))
    conditional_writes: str = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "on", "off")))
    cache_dir: str | None = None
    keep_uploads: bool = True
    verify_reads: bool = True
    touch_after: float = attrs.field(default=600.0, validator=_at_least(0))


def _s3_datastore(options: S3DatastoreOptions, stack: Any) -> Any:
    from lamina_datastore_s3.datastore import S3Datastore

    cache = stack.resolve_path(options.cache_dir) if options.cache_dir else None
    return S3Datastore(attrs.evolve(options, cache_dir=cache))


@hookimpl
def lamina_datastores() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="datastore",
            name="s3",
            config=S3DatastoreOptions,
            factory=_s3_datastore,
            description="content-addressed objects and run records in an S3 (or compatible) bucket",
            url_schemes=("s3", "s3a"),
            install_hint="pip install lamina-datastore-s3",
        )
    ]

"""botocore's exceptions turned into lamina errors that say what is wrong and the fix."""

from __future__ import annotations

from typing import Any

from lamina.sdk import BackendUnreachableError, DatastoreError


class S3DatastoreError(DatastoreError, BackendUnreachableError):
    """The S3 datastore could not do something. ``reason`` says why, as one of
    ``bucket-missing``, ``access-denied``, ``bad-credentials``, ``no-credentials``,
    ``unreachable``, ``wrong-region``, ``conditional-writes``, ``error``.

    It is both a :class:`~lamina.errors.DatastoreError` and a
    :class:`~lamina.errors.BackendUnreachableError`, so a host catches either.
    """

    def __init__(self, message: str, *, reason: str = "error", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


_MISSING_BUCKET = {"NoSuchBucket"}
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
    "301",
    "IncorrectEndpoint",
}


def _code(error: Any) -> tuple[str, int, dict[str, Any]]:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    meta = response.get("ResponseMetadata", {})
    return code, int(meta.get("HTTPStatusCode") or 0), meta.get("HTTPHeaders") or {}


def is_not_found(error: BaseException) -> bool:
    """A 404 for an object (not for the bucket)."""
    code, status, _ = _code(error)
    return code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket")


def error_code(error: BaseException) -> str:
    return _code(error)[0]


def translate(error: BaseException, *, action: str, where: str, settings: str,
              retries: int) -> S3DatastoreError:
    """One exception from boto3/botocore as an :class:`S3DatastoreError`.

    :param action: what lamina was doing (``uploading object ab12...``).
    :param where: ``s3://bucket/key``.
    :param settings: the endpoint and region in use, for the message.
    :param retries: attempts made per request, for the message.
    """
    from botocore import exceptions as bx

    bucket = where.split("/")[2] if where.startswith("s3://") else where
    head = f"s3 datastore: {action} at {where} ({settings})"
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return S3DatastoreError(
            f"{head}: no AWS credentials were found ({error})",
            reason="no-credentials",
            hint="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), run "
            "`aws configure`, or set profile / access_key_id = \"${VAR}\" in the stack",
        )
    if isinstance(error, bx.ProfileNotFound):
        return S3DatastoreError(
            f"{head}: {error}", reason="no-credentials",
            hint="name a profile of ~/.aws/config (`aws configure list-profiles`)",
        )
    if isinstance(error, bx.EndpointConnectionError | bx.ConnectionClosedError
                  | bx.ConnectTimeoutError | bx.ReadTimeoutError | bx.ProxyConnectionError):
        return S3DatastoreError(
            f"{head}: the S3 endpoint cannot be reached after {retries} attempts "
            f"({type(error).__name__}: {error}); nothing partial was left visible",
            reason="unreachable",
            hint="check endpoint_url (or AWS_ENDPOINT_URL) and the network; raise `retries` "
            "for a flaky link",
        )
    if isinstance(error, bx.ClientError):
        code, status, headers = _code(error)
        message = (getattr(error, "response", {}) or {}).get("Error", {}).get("Message", "")
        detail = f"{code or status}: {message}".rstrip(": ")
        region = headers.get("x-amz-bucket-region")
        if code in _WRONG_REGION or (status == 301 and region):
            return S3DatastoreError(
                f"{head}: the bucket {bucket!r} lives in another region"
                + (f" ({region})" if region else "") + f" [{detail}]",
                reason="wrong-region",
                hint=f'set region = "{region}" in the stack (or AWS_REGION)' if region
                else "set region (or AWS_REGION) to the bucket's region",
            )
        if code in _MISSING_BUCKET or (action.startswith("checking bucket") and status == 404):
            return S3DatastoreError(
                f"{head}: bucket {bucket!r} does not exist [{detail}]",
                reason="bucket-missing",
                hint=f"create it (`aws s3 mb s3://{bucket}`) or fix the bucket in the "
                "datastore url",
            )
        if code in _BAD_CREDENTIALS:
            return S3DatastoreError(
                f"{head}: the server rejected the credentials [{detail}]",
                reason="bad-credentials",
                hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the profile) "
                "for this endpoint; temporary credentials may have expired",
            )
        if code in _DENIED or status == 403:
            return S3DatastoreError(
                f"{head}: access denied [{detail}]",
                reason="access-denied",
                hint=f"allow s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket "
                f"on arn:aws:s3:::{bucket} and arn:aws:s3:::{bucket}/* for these "
                "credentials (a bucket policy may also require sse); a bucket that does "
                "not exist shows as access denied on some servers",
            )
        return S3DatastoreError(
            f"{head}: the server answered {detail} (HTTP {status})",
            hint="see the server's message above; `lamina stack check` tests the datastore",
        )
    if isinstance(error, bx.BotoCoreError):
        return S3DatastoreError(
            f"{head}: {type(error).__name__}: {error}",
            hint="check the datastore options (endpoint_url, region, profile)",
        )
    return S3DatastoreError(f"{head}: {type(error).__name__}: {error}")

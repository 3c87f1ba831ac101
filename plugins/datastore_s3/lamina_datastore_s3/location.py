"""``s3://bucket/prefix?option=value`` <-> bucket, prefix and options.

The URL is what a remote task receives (``python -m lamina task --datastore URL``), so the
non-secret options that decide where and how bytes are written (endpoint, region,
encryption, storage class) travel in its query; credentials never do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import attrs

from lamina.sdk import ConfigError

#: Options a URL query may carry (and that :func:`canonical_url` writes back).
URL_OPTIONS = (
    "endpoint_url",
    "region",
    "sse",
    "sse_kms_key_id",
    "storage_class",
    "addressing_style",
    "conditional_writes",
)


@attrs.frozen
class Location:
    bucket: str
    prefix: str  # no leading or trailing "/"; may be empty

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def rel(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse(url: str) -> tuple[Location, dict[str, str]]:
    """The bucket, the prefix and the query options of an ``s3://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise ConfigError(
            f"datastore url {url!r} is not an s3:// URL with a bucket",
            hint='write url = "s3://BUCKET/PREFIX"',
        )
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in URL_OPTIONS:
            raise ConfigError(
                f"datastore url {url!r}: {name!r} cannot be given in the URL",
                hint=f"the URL may carry {', '.join(URL_OPTIONS)}; give credentials through "
                "the environment or the stack's options (as ${VAR})",
            )
        query[name] = value
    return Location(parts.netloc, parts.path.strip("/")), query


def merged_options(options: Any) -> tuple[Location, Any]:
    """The options with the URL's query folded in; a conflict is an error."""
    location, query = parse(options.url)
    changes: dict[str, Any] = {}
    for name, value in query.items():
        current = getattr(options, name)
        if current not in (None, value) and current != attrs.fields_dict(type(options))[
            name
        ].default:
            raise ConfigError(
                f"datastore url {options.url!r} sets {name}={value!r} but the option {name} "
                f"is {current!r}",
                hint=f"set {name} in one place only",
            )
        changes[name] = value
    try:
        return location, attrs.evolve(options, **changes)
    except ValueError as error:
        raise ConfigError(
            f"datastore url {options.url!r}: {error}", hint="fix the URL's query"
        ) from None


def canonical_url(location: Location, options: Any) -> str:
    """``s3://bucket/prefix`` plus the non-default URL options, for remote tasks."""
    fields = attrs.fields_dict(type(options))
    pairs = [
        f"{name}={quote(str(getattr(options, name)), safe=':/')}"
        for name in URL_OPTIONS
        if getattr(options, name) not in (None, fields[name].default)
    ]
    return str(location) + ("?" + "&".join(pairs) if pairs else "")

"""Where a feature view's rows come from: a Parquet URL, a stored snapshot, a flow artifact.

A source is turned into something DuckDB can scan (a ``read_parquet`` over a path or an
fsspec filesystem, or a registered Arrow table) and into a content hash, which a training
set records so that it can tell later whether the data it was built from has changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import FeatureStoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lamina.features.definitions import FeatureView

RUN_SCHEME = "run://"
DATA_SCHEME = "data://"
LOCAL_SCHEMES = ("file", "local")


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def split_url(url: str) -> tuple[str, str]:
    """(protocol, path); protocol is ``file`` for plain paths."""
    if "://" not in url:
        return "file", url
    proto, rest = url.split("://", 1)
    return proto.lower(), rest


def is_run_ref(url: str) -> bool:
    """A source read when used rather than scanned as Parquet: a flow artifact
    (``run://``) or a data source of the stack (``data://``, :func:`lamina.data.ref`)."""
    return isinstance(url, str) and url.startswith((RUN_SCHEME, DATA_SCHEME))


def is_data_ref(url: str) -> bool:
    return isinstance(url, str) and url.startswith(DATA_SCHEME)


def resolve_local(url: str, root: Path) -> str:
    """A local path relative to ``root`` when it is relative; other URLs unchanged."""
    proto, path = split_url(url)
    if proto not in LOCAL_SCHEMES:
        return url
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else root / p)


def is_table(value: Any) -> bool:
    """A pyarrow Table or a pandas DataFrame (without importing either)."""
    mod = type(value).__module__
    return (mod.startswith("pyarrow") and type(value).__name__ == "Table") or (
        mod.startswith("pandas") and type(value).__name__ == "DataFrame"
    )


def to_arrow(value: Any) -> Any:
    """An Arrow table from an Arrow table or a pandas frame."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    return pa.Table.from_pandas(value, preserve_index=False)


def table_hash(table: Any) -> str:
    """Content hash of an Arrow table (its IPC stream bytes)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def local_files(path: str) -> list[str]:
    """The Parquet files a local path names, sorted and absolute: the file, every
    ``*.parquet`` under a directory, or a glob's matches. No fsspec (~0.1 s to import)."""
    import glob

    full = os.path.abspath(os.path.expanduser(path))
    if any(ch in path for ch in "*?["):
        return sorted(f for f in glob.glob(full, recursive=True) if os.path.isfile(f))
    if os.path.isdir(full):
        return sorted(os.path.join(folder, name) for folder, _, names in os.walk(full)
                      for name in names if name.endswith(".parquet"))
    return [full] if os.path.exists(full) else []


def list_files(url: str) -> tuple[Any, list[str]]:
    """(fsspec file system, the Parquet files ``url`` names, sorted)."""
    import fsspec

    proto, path = split_url(url)
    if proto in LOCAL_SCHEMES:
        return fsspec.filesystem("file"), local_files(path)
    fs = fsspec.filesystem(proto)
    if any(ch in path for ch in "*?["):
        files = sorted(fs.glob(path))
    elif fs.isdir(path):
        files = sorted(p for p in fs.find(path) if p.endswith(".parquet"))
    else:
        files = [path] if fs.exists(path) else []
    return fs, files


def file_stamps(view: FeatureView, url: str) -> tuple[Any, list[tuple[str, str]]]:
    """(file system, [(path, "size:mtime"), ...]) of every file of ``url``, in name order:
    what identifies one version of a source without reading it."""
    try:
        fs, files = list_files(url)
        if not files:
            raise FileNotFoundError(url)
        stamps = []
        for path in files:
            info = fs.info(path)
            mtime = info.get("mtime") or info.get("LastModified") or ""
            inode = f":{info['ino']}" if info.get("ino") else ""  # a replaced file differs
            stamps.append((path, f"{info.get('size')}:{mtime}{inode}"))
    except Exception as exc:
        raise unreachable(view, url, exc) from exc
    return fs, stamps


def has_repeated_times(con: Any, scan: str, keys: Sequence[str], timestamp: str) -> bool:
    """Whether two rows of the source share join keys and event time (rows with a null key
    or time never match, so they do not count). Compares the row count with the count of
    distinct 64-bit hashes of (keys, time): a hash collision can only answer True, which
    costs the exact tie check at query time and never a wrong row."""
    cols = [*keys, timestamp]
    where = " AND ".join(f"{quote(c)} IS NOT NULL" for c in cols)
    rows = con.execute(
        f"SELECT count(*) - count(DISTINCT hash({', '.join(quote(c) for c in cols)})) "
        f"FROM {scan} WHERE {where}"
    ).fetchall()
    return bool(rows and rows[0][0])


def content_hash(view: FeatureView, url: str, cache: Any = None) -> str:
    """SHA-256 over the bytes of every file of ``url`` (in name order). ``cache`` (the
    registry) remembers hashes of local files by (path, size, mtime)."""
    if view.source_hash:
        return view.source_hash
    fs, stamps = file_stamps(view, url)
    digest = hashlib.sha256()
    for path, stamp in stamps:
        cached = cache.cached_hash(path, stamp) if cache is not None else None
        if cached is None:
            h = hashlib.sha256()
            with fs.open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    h.update(block)
            cached = h.hexdigest()
            if cache is not None:
                cache.remember_hash(path, stamp, cached)
        digest.update(os.path.basename(path).encode() + b"\0" + cached.encode())
    return digest.hexdigest()


def unreadable_entities(url: str, exc: BaseException | None = None) -> FeatureStoreError:
    """The error for entity rows given as a path or URL that cannot be read."""
    why = (f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
           if exc is not None else "name no Parquet file")
    return FeatureStoreError(
        f"entity rows {url!r} {why}",
        hint="check the path or URL (a relative path is relative to the working "
        "directory), or pass the rows as a pyarrow.Table or pandas.DataFrame",
    )


def unreachable(view: FeatureView, url: str, exc: BaseException) -> FeatureStoreError:
    return FeatureStoreError(
        f"feature view {view.name!r}: source {url!r} cannot be read "
        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
        hint="check the path or URL (and credentials), or apply the view with a source "
        "that exists",
    )


def scan_sql(con: Any, url: str) -> str:
    """The SQL table expression that scans the Parquet at ``url`` on connection ``con``."""
    proto, path = split_url(url)
    if proto in LOCAL_SCHEMES:
        return f"read_parquet({literal(path)})"
    if proto in ("s3", "gs", "gcs", "http", "https", "az", "abfs"):
        try:  # DuckDB's own readers are faster, when the extension is there
            con.execute("LOAD httpfs")
            return f"read_parquet({literal(url)})"
        except Exception:
            pass
    import fsspec

    fs = fsspec.filesystem(proto)
    if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str)
                                        else fs.protocol[0]):
        con.register_filesystem(fs)
    return f"read_parquet({literal(url)})"

"""The ``parquet`` source: folders of Parquet files (hive-partitioned or not) on local disk
or S3, read with pyarrow.dataset: partitions pruned and predicates pushed down to row
groups, only the columns asked for fetched.

A Parquet lake has no log, so its version is the hash of its file listing: each file's
path, size and modification time (its ETag on S3). Any change to the table's files changes
it. There is no time travel: ``as_of`` is accepted only when it equals the current
listing's hash, so a rerun either reads exactly what was recorded or says why it cannot.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.builtin.data_lakes import common
from lamina.datastore.hashing import new_hash
from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead

PLUGIN = "parquet"


class ParquetSource:
    """A Parquet lake: table ``T`` is the folder ``URL/T`` (or the file ``URL/T.parquet``).
    """

    plugin = PLUGIN

    def __init__(self, name: str, options: common.LakeOptions,
                 filesystem: Any = None) -> None:
        self.name = name
        self.options = options
        if filesystem is not None:
            self.fs, self.root = filesystem, common.strip_scheme(options.url).rstrip("/")
        elif common.is_s3(options.url):
            self.fs = common.s3_filesystem(options)
            self.root = common.strip_scheme(options.url).rstrip("/")
        else:
            import fsspec

            self.fs = fsspec.filesystem("file")
            self.root = common.local_root(options.url)

    # -------------------------------------------------------------------- listing

    def _path(self, table: str) -> str:
        return common.table_url(self.root, common.check_table_name(self.name, table))

    def _listing(self, table: str, *, missing_ok: bool = False
                 ) -> tuple[str, list[str], str]:
        """(the table's path, its data files, the listing's hash); raises for no table
        unless ``missing_ok`` (then the list is empty)."""
        path = self._path(table)
        try:
            found = self.fs.find(path, detail=True)
            if not found and self.fs.isfile(path + ".parquet"):
                path += ".parquet"
                found = {path: self.fs.info(path)}
        except FileNotFoundError:
            found = {}
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise
        files = {p: info for p, info in found.items()
                 if info.get("type", "file") == "file" and not _hidden(p, path)}
        if not files and not missing_ok:
            raise self._missing(table)
        digest = new_hash()
        for p in sorted(files):
            info = files[p]
            stamp = (info.get("ETag") or info.get("etag") or info.get("mtime")
                     or info.get("LastModified") or "")
            rel = p[len(path):].lstrip("/")
            digest.update(f"{rel}\t{info.get('size')}\t{stamp}\n".encode())
        return path, sorted(files), "files:" + str(digest.hexdigest())

    def _missing(self, table: str) -> DataSourceError:
        return DataSourceError(
            f"data source {self.name!r} (parquet): no table {table!r} under "
            f"{self.options.url!r}",
            hint=f"check the name (tables here: {self._tables_hint()}) or write it first",
        )

    def _tables_hint(self) -> str:
        try:
            names = sorted(common.strip_scheme(p).rstrip("/").rsplit("/", 1)[-1]
                           for p in self.fs.ls(self.root, detail=False))
        except Exception:
            return "none found"
        names = [n.removesuffix(".parquet") for n in names if not n.startswith(("_", "."))]
        return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") or "none"

    def _dataset(self, path: str, files: list[str]) -> Any:
        import pyarrow.dataset as ds

        if len(files) == 1 and files[0] == path:
            return ds.dataset(files, filesystem=self.fs, format="parquet")
        return ds.dataset(files, filesystem=self.fs, format="parquet",
                          partitioning="hive", partition_base_dir=path)

    # ----------------------------------------------------------------------- read

    def read(self, query: str | None = None, *, params: Mapping[str, Any] | None = None,
             table: str | None = None, filter: Any = None,
             columns: Sequence[str] | None = None, as_of: str | None = None) -> DataRead:
        """Read ``table`` into Arrow, pruning partitions and row groups with ``filter`` (a
        pyarrow compute Expression or ``[("day", "=", "2026-01-01"), ...]``)."""
        common.no_query(self.name, PLUGIN, query)
        name = common.check_table_name(self.name, table)
        expr = common.arrow_filter(self.name, filter)
        path, files, version = self._listing(name)
        if as_of is not None and as_of != version:
            raise DataSourceError(
                f"data source {self.name!r} (parquet): table {name!r} changed since version "
                f"{as_of[:18]}... was recorded (now {version[:18]}...); a Parquet folder keeps "
                "no history to travel back to",
                hint="read it without as_of, or keep the table in Delta or Iceberg for "
                "time travel",
            )
        dataset = self._dataset(path, files)
        cols = common.check_columns(self.name, name, columns, dataset.schema.names)
        try:
            result = dataset.to_table(columns=cols, filter=expr)
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise DataSourceError(
                f"data source {self.name!r} (parquet): cannot read table {name!r} with filter "
                f"{common.filter_text(filter)!r} ({type(exc).__name__}: "
                f"{common.first_line(exc)})",
                hint="filter on columns the table has, with values of their type",
            ) from None
        return common.finish_read(source=self.name, plugin=PLUGIN, table_name=name,
                                  result=result, filter=filter, columns=columns,
                                  version=version, version_kind="files")

    # ---------------------------------------------------------------------- write

    def write(self, table: str, data: Any, *,
              mode: Literal["append", "overwrite"] = "append") -> int:
        """Write new Parquet files into ``table`` (partitioned like the table, or by the
        source's ``partition_by`` for a new one). ``overwrite`` writes the new files, then
        deletes the old ones: not atomic across files (readers in between see both);
        use Delta or Iceberg where that matters."""
        import pyarrow.dataset as ds

        if mode not in ("append", "overwrite"):
            raise DataSourceError(f"data source {self.name!r}: write mode {mode!r} is unknown",
                                  hint="use mode='append' or mode='overwrite'")
        name = common.check_table_name(self.name, table)
        arrow = common.to_arrow(self.name, name, data)
        path = self._path(name)
        _, old, _ = self._listing(name, missing_ok=True)
        keys = _partition_keys(path, old) if old else list(self.options.partition_by)
        missing = [k for k in keys if k not in arrow.schema.names]
        if missing:
            raise DataSourceError(
                f"data source {self.name!r}: table {name!r} is partitioned by "
                f"{', '.join(keys)} but the data has no column {', '.join(missing)}",
                hint="add the partition columns to the data",
            )
        token = uuid.uuid4().hex
        try:
            ds.write_dataset(
                arrow, path, filesystem=self.fs, format="parquet",
                partitioning=keys or None, partitioning_flavor="hive" if keys else None,
                basename_template=f"part-{token}-{{i}}.parquet",
                existing_data_behavior="overwrite_or_ignore",
            )
        except Exception as exc:
            if (failure := common.storage_error(self.name, PLUGIN, self.options.url,
                                                      exc)) is not None:
                raise failure from None
            raise DataSourceError(
                f"data source {self.name!r} (parquet): cannot write table {name!r} "
                f"({type(exc).__name__}: {common.first_line(exc)})",
                hint="check the data's types match the table's",
            ) from None
        if mode == "overwrite" and old:
            self.fs.rm([p for p in old if token not in p])
        return int(arrow.num_rows)

    # --------------------------------------------------------------------- checks

    def version_of(self, read: DataInput) -> str | None:
        """The current hash of the listing of the table ``read`` read."""
        if read.table is None:
            return None
        return self._listing(read.table)[2]

    def check(self) -> str:
        """List the lake's root; a one-line summary."""
        common.check_s3(self.name, PLUGIN, self.options)
        try:
            if not self.fs.exists(self.root):
                return f"parquet lake {self.options.url}: empty (created on the first write)"
            count = len(self.fs.ls(self.root, detail=False))
        except Exception as exc:
            raise (common.storage_error(self.name, PLUGIN, self.options.url, exc)
                   or common.unreachable(self.name, PLUGIN, self.options.url, exc)) from None
        return f"parquet lake {self.options.url}: {count} entries"


def _hidden(path: str, root: str) -> bool:
    rel = path[len(root):].lstrip("/")
    return any(part.startswith(("_", ".")) for part in rel.split("/")) or (
        not path.endswith(".parquet") and "." in rel.rsplit("/", 1)[-1])


def _partition_keys(root: str, files: list[str]) -> list[str]:
    """The hive partition keys of a table's files (``day=.../hour=.../part.parquet``)."""
    rel = files[0][len(root):].lstrip("/").split("/")[:-1]
    return [part.split("=", 1)[0] for part in rel if "=" in part]

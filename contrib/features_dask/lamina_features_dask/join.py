"""The point-in-time join on a Dask cluster.

1. **Read and split**: each source file (or run of row groups) of each view, and each
   chunk of the entity rows, is read by one task, which cuts it by a hash of the join keys
   into ``partitions`` pieces, each keeping its rows' order, and writes each piece to the
   datastore as an Arrow IPC record ``features/shuffle/ID/PART/CHUNK.arrow`` (the shuffle
   goes through storage every worker reaches, as Spark's and Dask's P2P shuffles go
   through disk): a worker holds no piece in memory between the two phases.
2. **Join**: partition ``p`` reads piece ``p`` of every chunk, in chunk order (so of
   source rows tied on keys and event time, without a created time, the last in source
   order still wins), and runs the feature store's own join on it
   (:func:`lamina.sdk.join_partition`: the numpy engine, or DuckDB for what it cannot take),
   then deletes its pieces.
3. **Write**: each partition's rows, in entity-row order, go to the stack's datastore as
   one Parquet record ``features/training/ID/part-NNNNN.parquet``, with a column holding
   each row's position among the entity rows.

No task holds more than one chunk or one partition; the client holds only futures and,
for entity rows given as a table, their pieces until they are scattered. A datastore that
cannot travel to the workers (not picklable) keeps the pieces in the workers' memory
instead, as Dask results.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lamina.sdk import FeatureStoreError, join_partition
from lamina_features_dask.hashing import split

#: The column holding each training row's position among the entity rows.
ROW = "__lamina_row"
#: Rows per read task (row groups are grouped up to about this many).
CHUNK_ROWS = 1_000_000
#: Source rows per partition the default partition count aims at.
PARTITION_ROWS = 1_000_000
#: Rows a read task cuts at a time when the shuffle goes through the datastore.
BATCH_ROWS = 131_072


@attrs.frozen
class Chunk:
    """Rows one task reads: a Parquet file (or some of its row groups)."""

    url: str
    row_groups: tuple[int, ...] | None
    rows: int
    offset: int = 0


@attrs.frozen
class DaskTrainingSet:
    """Where a training set built on Dask went.

    :param key: the datastore folder of its Parquet parts.
    :param parts: the record key of each part (partitions without rows have none).
    :param rows: how many training rows (as many as entity rows).
    :param partitions: how many key-hash partitions the join used.
    :param seconds: wall time of the whole job.
    """

    key: str
    parts: tuple[str, ...]
    rows: int
    partitions: int
    seconds: float
    datastore: Any = attrs.field(repr=False, eq=False)

    def read(self, *, keep_position: bool = False) -> Any:
        """The whole training set as one Arrow table in entity-row order (it must fit in
        this process's memory)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for key in self.parts:
            data = self.datastore.get_record(key)
            if data is None:
                raise FeatureStoreError(f"training set part {key} is missing from the datastore",
                                        hint="build the training set again")
            tables.append(pq.read_table(io.BytesIO(data)))
        if not tables:
            raise FeatureStoreError(f"training set {self.key} has no parts",
                                    hint="build it again with entity rows")
        table = pa.concat_tables(tables)
        table = table.sort_by(ROW)
        return table if keep_position else table.drop_columns([ROW])


def _fs(url: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url, **dict(storage_options))  # type: ignore[no-any-return]


def _files(url: str, storage_options: Mapping[str, Any]) -> list[str]:
    """The Parquet files at ``url`` (a file, a folder or a glob), in name order; URLs kept
    with their scheme."""
    fs, path = _fs(url, storage_options)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if any(ch in path for ch in "*?["):
        found = fs.glob(path)
    elif fs.isdir(path):
        found = [p for p in fs.find(path) if not p.rsplit("/", 1)[-1].startswith(("_", "."))]
    else:
        found = [path] if fs.exists(path) else []
    found = sorted(found)
    if proto in ("file", "local"):
        return found
    return [f"{proto}://{p}" for p in found]


def chunks(url: str, storage_options: Mapping[str, Any], chunk_rows: int = CHUNK_ROWS
           ) -> list[Chunk]:
    """The read tasks of the Parquet at ``url``: files, big ones cut at row groups."""
    import pyarrow.parquet as pq

    out: list[Chunk] = []
    offset = 0
    for file in _files(url, storage_options):
        fs, path = _fs(file, storage_options)
        with fs.open(path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
        groups: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if groups and rows + n > chunk_rows:
                out.append(Chunk(file, tuple(groups), rows, offset))
                offset += rows
                groups, rows = [], 0
            groups.append(g)
            rows += n
        if groups or meta.num_row_groups == 0:
            out.append(Chunk(file, tuple(groups), rows, offset))
            offset += rows
    return out


class _PieceWriter:
    """One piece's rows as an Arrow IPC stream in memory (batches appended as they come)."""

    def __init__(self) -> None:
        self.rows = 0
        self.schema: Any = None
        self._sink: Any = None
        self._writer: Any = None

    def write(self, table: Any) -> None:
        import pyarrow as pa

        self.schema = table.schema
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._sink = pa.BufferOutputStream()
            self._writer = pa.ipc.new_stream(self._sink, table.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> bytes:
        self._writer.close()
        data: bytes = self._sink.getvalue().to_pybytes()
        self._sink = self._writer = None
        return data


@attrs.frozen
class Shuffle:
    """Where the pieces of one join go: ``PREFIX/PART/CHUNK.arrow`` records (``CHUNK``:
    ``entities-N`` or ``VIEW-N``)."""

    datastore: Any
    prefix: str

    def writer(self) -> _PieceWriter:
        """An in-memory Arrow IPC stream for one piece, written batch by batch."""
        return _PieceWriter()

    def put(self, part: int, chunk: str, piece: Any, schema: Any = None) -> Any:
        """Store one piece (a table, or a :meth:`writer` holding its batches); its record
        key. An empty piece stays inline: an empty table of its schema."""
        if not isinstance(piece, _PieceWriter):
            table, piece = piece, _PieceWriter()
            piece.write(table)
        if not piece.rows:
            return (piece.schema or schema).empty_table()
        key = f"{self.prefix}/{part:05d}/{chunk}.arrow"
        self.datastore.put_record(key, piece.close())
        return key

    def get(self, piece: Any) -> Any:
        """A piece :meth:`put` returned, as an Arrow table."""
        import pyarrow as pa

        if not isinstance(piece, str):
            return piece
        data = self.datastore.get_record(piece)
        if data is None:
            raise FeatureStoreError(f"shuffle piece {piece} is missing from the datastore",
                                    hint="build the training set again")
        return pa.ipc.open_stream(pa.BufferReader(data)).read_all()

    def drop(self, pieces: Sequence[Any]) -> None:
        """Delete stored pieces (a datastore without ``delete_record`` keeps them)."""
        delete = getattr(self.datastore, "delete_record", None)
        if delete is None:
            return
        for piece in pieces:
            if isinstance(piece, str):
                delete(piece)


def read_split(chunk: Chunk, columns: Sequence[str] | None, keys: Sequence[str],
               partitions: int, storage_options: Mapping[str, Any],
               position: bool = False, shuffle: tuple[Shuffle, str] | None = None
               ) -> list[Any]:
    """Task: read ``chunk`` and cut it into ``partitions`` pieces by key hash (with each
    row's position among the entity rows when ``position``). With ``shuffle`` (where, and
    this chunk's name), the chunk is read and cut in batches of :data:`BATCH_ROWS` rows,
    each piece is stored and its record key returned instead: the task then holds one
    batch and the pieces' serialized bytes, not the chunk three times over."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, path = _fs(chunk.url, storage_options)
    with fs.open(path, "rb") as f:
        file = pq.ParquetFile(f)
        groups = list(chunk.row_groups) if chunk.row_groups is not None else None
        if shuffle is None:
            table = (file.read_row_groups(groups, columns=columns) if groups
                     else file.read(columns=columns))
            if position:
                table = table.append_column(ROW, pa.array(
                    range(chunk.offset, chunk.offset + table.num_rows), pa.int64()))
            return split(table, keys, partitions)
        where, name = shuffle
        writers = [where.writer() for _ in range(partitions)]
        offset = chunk.offset
        batches = file.iter_batches(batch_size=BATCH_ROWS, row_groups=groups or None,
                                    columns=columns)
        schema = file.schema_arrow if columns is None else pa.schema(
            [file.schema_arrow.field(c) for c in columns])
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if position:
                table = table.append_column(
                    ROW, pa.array(range(offset, offset + table.num_rows), pa.int64()))
                offset += table.num_rows
            schema = table.schema
            for writer, part in zip(writers, split(table, keys, partitions), strict=True):
                writer.write(part)
            del table
    if position and schema.get_field_index(ROW) < 0:
        schema = schema.append(pa.field(ROW, pa.int64()))
    return [where.put(p, name, w, schema) for p, w in enumerate(writers)]


def piece(pieces: list[Any], p: int) -> Any:
    """Task: piece ``p`` of a split chunk."""
    return pieces[p]


def join_part(p: int, entity_pieces: list[Any], views: list[tuple[Any, tuple, tuple]],
              source_pieces: list[list[Any]], timestamp_column: str, datastore: Any,
              key: str, shuffle: Shuffle | None = None) -> dict[str, Any]:
    """Task: join partition ``p`` and write it to the datastore (or, with no datastore,
    return its Parquet bytes as ``data``); its key and row count. With ``shuffle``, the
    pieces are record keys, read here and deleted once the part is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stored = [*entity_pieces, *(x for pieces in source_pieces for x in pieces)]
    load = shuffle.get if shuffle is not None else (lambda piece: piece)
    entities = pa.concat_tables([load(x) for x in entity_pieces])
    if entities.num_rows == 0:
        if shuffle is not None:
            shuffle.drop(stored)
        return {"part": None, "rows": 0}
    inputs = []
    for (view, features, outputs), pieces in zip(views, source_pieces, strict=True):
        inputs.append((view, pa.concat_tables([load(x) for x in pieces]), features, outputs))
    del source_pieces
    table = join_partition(entities, inputs, timestamp_column=timestamp_column)
    del inputs
    table = table.sort_by(ROW)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    part = f"{key}/part-{p:05d}.parquet"
    if datastore is None:
        return {"part": part, "rows": table.num_rows, "data": sink.getvalue()}
    datastore.put_record(part, sink.getvalue())
    if shuffle is not None:
        shuffle.drop(stored)
    return {"part": part, "rows": table.num_rows}


def _outputs(resolved: Sequence[Any], full_feature_names: bool, taken: Sequence[str]
             ) -> list[tuple[str, ...]]:
    seen = set(taken)
    out = []
    for r in resolved:
        names = tuple(f"{r.view.name}__{f}" if full_feature_names else f for f in r.features)
        for name in names:
            if name in seen:
                raise FeatureStoreError(
                    f"output column {name!r} of feature view {r.view.name!r} clashes with "
                    "another column", hint="pass full_feature_names=True to name columns "
                    "view__feature")
            seen.add(name)
        out.append(names)
    return out


def _source_url(view: Any, root: Any) -> str:
    source = view.source
    if not isinstance(source, str) or source.startswith("run://"):
        raise FeatureStoreError(
            f"feature view {view.name!r}: the Dask join reads Parquet sources (local or "
            f"S3), not {source!r}", hint="give the view a Parquet path or s3:// URL")
    if "://" in source or source.startswith("/"):
        return source
    return str(root / source)


def _entity_pieces(entities: Any, keys: Sequence[str], partitions: int, client: Any,
                   storage_options: Mapping[str, Any], chunk_rows: int,
                   shuffle: Shuffle | None = None
                   ) -> tuple[list[list[Any]], int, list[str]]:
    """(per partition, the futures of its entity pieces; the entity row count; the
    entity columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(entities, str):
        found = chunks(entities, storage_options, chunk_rows)
        if not found:
            raise FeatureStoreError(f"entity rows {entities!r}: no Parquet files there",
                                    hint="pass a Parquet path or URL, or an Arrow table")
        fs, path = _fs(found[0].url, storage_options)
        with fs.open(path, "rb") as f:
            names = pq.ParquetFile(f).schema_arrow.names
        futures = [client.submit(read_split, c, None, keys, partitions, storage_options, True,
                                 (shuffle, f"entities-{i:06d}") if shuffle is not None
                                 else None, pure=False)
                   for i, c in enumerate(found)]
        per_part = [[client.submit(piece, f, p, pure=False) for f in futures]
                    for p in range(partitions)]
        return per_part, sum(c.rows for c in found), names
    if not isinstance(entities, pa.Table):
        try:
            entities = pa.Table.from_pandas(entities, preserve_index=False)
        except Exception:
            raise FeatureStoreError(
                f"entity rows of type {type(entities).__name__} are not supported",
                hint="pass a pyarrow.Table, a pandas.DataFrame, or a Parquet path/URL",
            ) from None
    table = entities.append_column(ROW, pa.array(range(entities.num_rows), pa.int64()))
    # hash=False: dask tokenizes Arrow slices by shape, and two pieces must never merge
    scattered = client.scatter(split(table, keys, partitions), hash=False)
    return [[f] for f in scattered], entities.num_rows, entities.column_names


def _picklable(value: Any) -> bool:
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def training_set(
    store: Any,
    entities: Any,
    features: Any,
    *,
    client: Any = None,
    scheduler: str | None = None,
    partitions: int | None = None,
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
    datastore: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> DaskTrainingSet:
    """A point-in-time-correct training set computed on a Dask cluster.

    The rows equal those of ``store.get_historical_features(entities, features)`` (same
    tie rule, TTL and nulls), in entity-row order once read with
    :meth:`DaskTrainingSet.read`.

    :param store: the feature store (``get_store()``): its definitions and root folder.
    :param entities: entity rows: an Arrow table, a pandas frame, or a Parquet path/URL
        (a file, folder or glob, local or ``s3://``).
    :param features: ``["view:feature", ...]``, a FeatureService or its name. The views
        must share their join keys (one entity).
    :param client: a ``distributed.Client``; else one is opened to ``scheduler``.
    :param partitions: key-hash partitions (default: enough for about a million source
        rows each, at least twice the workers).
    :param datastore: where the parts go (default: the store's stack's datastore); it
        must reach the workers (a shared folder or S3).
    :param storage_options: fsspec options for ``s3://`` sources (endpoint, keys); by
        default fsspec's environment (``AWS_*``, ``FSSPEC_S3_*``).
    :param chunk_rows: rows per read task (row groups grouped up to about this many):
        smaller chunks, smaller peaks on the workers.
    """
    t0 = time.perf_counter()
    storage_options = dict(storage_options or {})
    if datastore is None:
        stack = getattr(store, "stack", None)
        if stack is None:
            raise FeatureStoreError("the Dask join writes to a datastore: the store has no stack",
                                    hint="pass datastore=stack.datastore")
        datastore = stack.datastore
    own = client is None
    if own:
        if scheduler is None:
            raise FeatureStoreError("training_set on Dask needs a client or a scheduler address",
                                    hint="pass client=distributed.Client(...) or "
                                    "scheduler='tcp://HOST:8786'")
        from distributed import Client

        client = Client(scheduler, set_as_default=False)
    try:
        return _run(store, entities, features, client, partitions, timestamp_column,
                    full_feature_names, datastore, storage_options, t0, chunk_rows)
    finally:
        if own:
            client.close()


def _run(store: Any, entities: Any, features: Any, client: Any, partitions: int | None,
         timestamp_column: str, full_feature_names: bool, datastore: Any,
         storage_options: dict[str, Any], t0: float, chunk_rows: int) -> DaskTrainingSet:
    from pathlib import Path

    resolved = store.resolve(features)
    keys = tuple(resolved[0].view.join_keys)
    for r in resolved[1:]:
        if set(r.view.join_keys) != set(keys):
            raise FeatureStoreError(
                f"feature views {resolved[0].view.name!r} (keys {', '.join(keys)}) and "
                f"{r.view.name!r} (keys {', '.join(r.view.join_keys)}) have different join "
                "keys: the Dask join partitions by one entity's keys",
                hint="build one training set per entity and join them on the row position")
    root = Path(getattr(store, "root", "."))
    source_chunks = []
    for r in resolved:
        url = _source_url(r.view, root)
        found = chunks(url, storage_options, chunk_rows)
        if not found:
            raise FeatureStoreError(f"feature view {r.view.name!r}: no Parquet files at {url}",
                                    hint="check the view's source path or URL")
        source_chunks.append(found)
    if partitions is None:
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        biggest = max(sum(c.rows for c in found) for found in source_chunks)
        partitions = max(2 * workers, math.ceil(biggest / PARTITION_ROWS))
    job_id = f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}"
    key = f"features/training/{job_id}"
    # workers write their parts (and the shuffle's pieces) when the datastore travels to
    # them (a folder, S3 through fsspec); else they hand the Parquet bytes back and this
    # process writes them, and the pieces stay in the workers' memory
    remote = datastore if _picklable(datastore) else None
    shuffle = Shuffle(remote, f"features/shuffle/{job_id}") if remote is not None else None
    try:
        return _join(client, resolved, source_chunks, entities, keys, partitions,
                     full_feature_names, storage_options, chunk_rows, timestamp_column,
                     datastore, remote, shuffle, key, t0)
    finally:
        if shuffle is not None:  # what a failed job left behind
            shuffle.drop(datastore.list_records(shuffle.prefix))


def _join(client: Any, resolved: Any, source_chunks: list[list[Chunk]], entities: Any,
          keys: tuple[str, ...], partitions: int, full_feature_names: bool,
          storage_options: dict[str, Any], chunk_rows: int, timestamp_column: str,
          datastore: Any, remote: Any, shuffle: Shuffle | None, key: str, t0: float
          ) -> DaskTrainingSet:
    entity_parts, _, entity_columns = _entity_pieces(
        entities, keys, partitions, client, storage_options, chunk_rows, shuffle)
    outputs = _outputs(resolved, full_feature_names, entity_columns)
    views = []
    source_split: list[list[Any]] = []
    for r, outs, found in zip(resolved, outputs, source_chunks, strict=True):
        view = r.view
        columns = list(dict.fromkeys([*view.join_keys, view.timestamp_field,
                                      *([view.created_timestamp_field]
                                        if view.created_timestamp_field else []),
                                      *r.features]))
        views.append((view, tuple(r.features), outs))
        source_split.append([client.submit(read_split, c, columns, keys, partitions,
                                           storage_options, False,
                                           (shuffle, f"{len(views) - 1}-{i:06d}")
                                           if shuffle is not None
                                           else None, pure=False)
                             for i, c in enumerate(found)])
    jobs = []
    for p in range(partitions):
        entity_pieces = entity_parts[p]
        source_pieces = [[client.submit(piece, f, p, pure=False) for f in split_futures]
                         for split_futures in source_split]
        jobs.append(client.submit(join_part, p, entity_pieces, views, source_pieces,
                                  timestamp_column, remote, key, shuffle, pure=False))
    results = []
    for job in jobs:
        result = job.result()
        if result.get("data") is not None:
            datastore.put_record(result["part"], result.pop("data"))
        results.append(result)
        job.release()
    del jobs, entity_parts, source_split
    parts = tuple(r["part"] for r in results if r["part"] is not None)
    rows = sum(r["rows"] for r in results)
    manifest = {"parts": list(parts), "rows": rows, "partitions": partitions,
                "features": [f"{r.view.name}:{f}" for r in resolved for f in r.features],
                "position_column": ROW}
    datastore.put_record(f"{key}/manifest.json", json.dumps(manifest).encode())
    return DaskTrainingSet(key, parts, rows, partitions, time.perf_counter() - t0, datastore)

"""The point-in-time join of in-memory tables: what a distributed engine runs per partition.

A distributed engine (the ``lamina-features-dask`` plugin, say) splits the entity rows and
each view's source rows by a hash of the join keys, so that every key's rows meet in one
partition, and calls :func:`join_partition` on each partition. It is the join of the
single-machine store, with the same rules (the tie rule, the TTL, nulls): the numpy
engine where the data suits it, DuckDB otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lamina.errors import FeatureStoreError


def join_partition(entities: Any, views: Sequence[tuple[Any, Any, Sequence[str], Sequence[str]]],
                   *, timestamp_column: str = "event_timestamp") -> Any:
    """The point-in-time join of ``entities`` (an Arrow table) with in-memory sources.

    :param views: one ``(view, source, features, outputs)`` per feature view: the
        :class:`lamina.features.FeatureView`, its source rows as an Arrow table (in source
        order: of rows tied on keys and event time, without a created time to decide, the
        last one wins), the features asked and the output column name of each.
    :return: an Arrow table: the entity rows as given, then the features.
    """
    from lamina.features import engine, numpy_engine

    requests = []
    source_types: dict[str, dict[str, str]] = {}
    for view, table, features, outputs in views:
        types = numpy_engine.arrow_types(table.schema)
        engine.check_source(view, types, f"the partition of {view.name!r}")
        source_types[view.name] = types
        requests.append(engine.ViewRequest(view, "", tuple(features), tuple(outputs),
                                           origin=table))
    rows, entity_types = numpy_engine.entity_input(entities)
    engine.check_entities(entity_types, timestamp_column, requests, source_types)
    try:
        numpy_engine.check_suited(entity_types, timestamp_column, requests, source_types)
        return numpy_engine.point_in_time(rows, timestamp_column, requests)
    except numpy_engine.Unsuited:
        pass
    from lamina.features.connections import connect

    con = connect(threads=1)
    try:
        entity_rows = engine.entity_scan(con, entities)
        duck = []
        for i, (req, (view, table, _, _)) in enumerate(zip(requests, views, strict=True)):
            name = f"__lamina_source_{i}"
            con.register(name, table)
            duck.append(engine.ViewRequest(req.view, name, req.features, req.outputs,
                                           time_type=source_types[view.name][view.timestamp_field]))
        return engine.point_in_time(con, entity_rows, timestamp_column, duck)
    except FeatureStoreError:
        raise
    except Exception as exc:
        raise FeatureStoreError(
            f"point-in-time join of a partition of "
            f"{', '.join(v[0].name for v in views)} failed: {type(exc).__name__}: {exc}",
            hint="check the entity rows' and sources' column types",
        ) from exc
    finally:
        con.close()

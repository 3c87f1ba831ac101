"""The builtin feature store: a SQLite registry of definitions, Parquet (or Arrow, or flow
artifact) sources joined point-in-time by DuckDB, and a pluggable online store.

::

    from lamina.features import get_store

    store = get_store()                               # the stack's, or the builtin default
    store.apply([driver, driver_stats, churn_model])  # versioned definitions
    train = store.get_historical_features(entity_df, ["driver_stats:conv_rate"])
    store.materialize(start, end)                     # newest values -> online store
    store.get_online_features(["driver_stats:conv_rate"], [{"driver_id": 1001}])
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import FeatureStoreError, LaminaError
from lamina.features import definitions as d
from lamina.features.options import FeatureStoreOptions
from lamina.features.registry import Registry, Version, diff_specs

if TYPE_CHECKING:
    from lamina.features.engine import ViewRequest


@attrs.frozen
class ApplyResult:
    """What ``apply`` recorded: the new registry revision (None if nothing changed) and
    the versions written."""

    revision: int | None
    versions: list[Version]

    def __str__(self) -> str:
        if self.revision is None:
            return "no change"
        return f"revision {self.revision}: " + ", ".join(
            f"{v.kind} {v.name} v{v.version}" + (" (removed)" if v.removed else "")
            for v in self.versions
        )


@attrs.frozen
class ResolvedView:
    """A view as a request uses it: the stored version and the features asked of it."""

    view: d.FeatureView
    version: Version
    features: tuple[str, ...]


def to_micros(value: Any, what: str = "time") -> int:
    """Epoch microseconds of a datetime (naive = UTC), date, ISO string or epoch seconds."""
    if isinstance(value, bool):
        raise FeatureStoreError(f"{what} {value!r} is not a time", hint="pass a datetime")
    if isinstance(value, int | float):
        return round(value * 1_000_000)
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise FeatureStoreError(
                f"{what} {value!r} is not an ISO date/time", hint="e.g. 2026-01-31T12:00:00"
            ) from None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise FeatureStoreError(
        f"{what} {value!r} is not a time", hint="pass a datetime, an ISO string or epoch seconds"
    )


class LocalFeatureStore:
    """The builtin :class:`lamina.interfaces.FeatureStore` (component ``local``)."""

    def __init__(self, options: FeatureStoreOptions | None = None, stack: Any = None,
                 *, root: str | Path | None = None) -> None:
        self.options = options or FeatureStoreOptions()
        self.stack = stack
        if root is not None:
            self.root = Path(root)
        elif stack is not None:
            self.root = Path(stack.project_root)
        else:
            self.root = Path.cwd()
        self._registry: Registry | None = None
        self._online: Any = None
        self._views: dict[tuple[str, int], d.FeatureView] = {}
        #: content hashes of data:// sources read for the request in progress (its lineage)
        self._data_reads: dict[str, str] = {}

    # ------------------------------------------------------------------ plumbing

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self._path(self.options.registry))
        return self._registry

    def _connect(self) -> Any:
        """A fresh DuckDB database with this store's settings, for one job: close it."""
        from lamina.features.connections import connect

        return connect(self.options.threads, self.options.memory_limit)

    @property
    def online(self) -> Any:
        """The online store component (built on first use)."""
        if self._online is None:
            self._online = self._build_online()
        return self._online

    def _build_online(self) -> Any:
        from lamina.config.options import OptionError, build_options

        specs: list[Any] = []
        if self.stack is not None:
            for batch in self.stack.hook.lamina_online_stores():
                specs.extend(batch or ())
        else:
            from lamina.features.options import sqlite_online_spec

            specs.append(sqlite_online_spec())
        by_name = {s.name: s for s in specs}
        spec = by_name.get(self.options.online_store)
        if spec is None:
            from lamina.kernel.distributions import distribution_for
            from lamina.kernel.suggest import did_you_mean

            dist = distribution_for("online_store", self.options.online_store)
            raise FeatureStoreError(
                f"online store {self.options.online_store!r} is not offered by any installed "
                f"plugin{did_you_mean(self.options.online_store, list(by_name))}",
                hint=(f"pip install {dist}" if dist else
                      f"installed online stores: {', '.join(sorted(by_name)) or 'none'}"),
            )
        try:
            opts = build_options(spec.config, dict(self.options.online_options))
        except OptionError as exc:
            raise FeatureStoreError(
                f"feature store option online_options ({spec.name}): {exc.message}",
                hint=exc.hint,
            ) from None
        if hasattr(opts, "path"):
            opts = attrs.evolve(opts, path=str(self._path(opts.path)))
        return spec.factory(opts, self.stack)

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None
        if self._online is not None:
            self._online.close()
            self._online = None

    def check(self) -> str:
        """Open the registry and the online store and load the engine; one line."""
        from lamina.features.connections import connect

        connect().close()  # DuckDB is installed and works
        rev = self.registry.revision()
        views = len(self.registry.state(kind="feature_view"))
        online = self.online.check()
        return f"feature registry {self.registry.path}: revision {rev}, {views} views; {online}"

    # ------------------------------------------------------------------ definitions

    def apply(self, definitions: Sequence[Any] | Any, *, remove: Sequence[str] = ()
              ) -> ApplyResult:
        """Record the definitions; each one whose content changed gets a new version.

        In-memory sources (Arrow tables, pandas frames) are snapshotted as Parquet named by
        their content hash. Every view's source is checked (reachable, columns present,
        types as declared) before anything is recorded, so a bad definition never enters
        the registry.

        :param definitions: entities, feature views and feature services (or a module).
        :param remove: names of definitions to mark as removed in the same revision.
        """
        defs = d.collect(definitions)
        views = [self._snapshot(v) if isinstance(v, d.FeatureView) else v for v in defs]
        entities = {e.name: e for e in views if isinstance(e, d.Entity)}
        for v in views:
            if isinstance(v, d.FeatureView):
                for ent in v.entities:
                    entities.setdefault(ent.name, ent)
                self._check_view(v)
        known_views = {v.name: v for v in views if isinstance(v, d.FeatureView)}
        for svc in (s for s in views if isinstance(s, d.FeatureService)):
            for ref in svc.features:
                vname, fname = d.parse_ref(ref)
                view = known_views.get(vname) or self._view(vname)
                if fname != "*":
                    view.feature(fname)
        ordered = [*entities.values(), *(v for v in views if not isinstance(v, d.Entity))]
        gone = []
        for name in remove:
            gone.append((self.registry.find(name).kind, name))
        revision, versions = self.registry.apply(ordered, remove=gone)
        return ApplyResult(revision, versions)

    def _snapshot(self, view: d.FeatureView) -> d.FeatureView:
        from lamina.features import sources

        if isinstance(view.source, str):
            return view
        if not sources.is_table(view.source):
            raise FeatureStoreError(
                f"feature view {view.name!r}: source of type {type(view.source).__name__} is "
                "not supported",
                hint="use a Parquet path or fsspec URL, a pyarrow.Table, a pandas.DataFrame, "
                "or 'run://RUN_ID/STEP'",
            )
        import pyarrow.parquet as pq

        table = sources.to_arrow(view.source)
        digest = sources.table_hash(table)
        folder = self._path(self.options.snapshots)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}.parquet"
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            pq.write_table(table, tmp)
            tmp.replace(target)
        rel = target
        try:
            rel = target.relative_to(self.root)
        except ValueError:
            pass
        return attrs.evolve(view, source=str(rel), source_hash=digest)

    def _check_view(self, view: d.FeatureView) -> None:
        from lamina.features import engine, sources

        if isinstance(view.source, str) and sources.is_run_ref(view.source):
            return  # checked when read: loading a run's artifact here could be costly
        with contextlib.closing(self._connect()) as con:
            scan, where = self._scan(con, view)
            engine.check_source(view, self._describe(con, view, scan, where), where)
            self._learn_source_ties(con, view, scan)

    def _source_ties_key(self, view: d.FeatureView) -> tuple[str, str] | None:
        """(this version of the view's source, the fact "rows repeat (keys, event time)")
        under which the registry remembers the answer; None where it is not worth
        knowing (no created timestamp) or has no version (a run's artifact)."""
        from lamina.features import sources

        if not view.created_timestamp_field or sources.is_run_ref(view.source):
            return None
        _, stamps = sources.file_stamps(view, sources.resolve_local(view.source, self.root))
        fact = "repeated-times:" + json.dumps([*view.join_keys, view.timestamp_field])
        return json.dumps(stamps), fact

    def _learn_source_ties(self, con: Any, view: d.FeatureView, scan: str) -> None:
        """Scan the source once, when the view is applied, for rows sharing keys and event
        time, and remember the answer for this version of its files: a query of a source
        known to have none then skips the tie check (docs/features.md, performance)."""
        from lamina.features import sources

        if not self._duckdb_joins(view):
            return  # the numpy engine finds ties as it sorts: the scan would be wasted
        key = self._source_ties_key(view)
        if key is None or self.registry.source_fact(*key) is not None:
            return
        repeated = sources.has_repeated_times(con, scan, view.join_keys, view.timestamp_field)
        self.registry.remember_source_fact(*key, repeated)

    def _duckdb_joins(self, view: d.FeatureView) -> bool:
        """Whether the DuckDB engine will likely join this view's source: the store is
        set to it, or the source is remote (``auto`` reads those with DuckDB)."""
        from lamina.features import sources

        if self.options.engine != "auto":
            return self.options.engine == "duckdb"
        resolved = sources.resolve_local(view.source, self.root)
        return sources.split_url(resolved)[0] not in sources.LOCAL_SCHEMES

    def _known_source_ties(self, view: d.FeatureView) -> bool | None:
        key = self._source_ties_key(view)
        return None if key is None else self.registry.source_fact(*key)

    def _describe(self, con: Any, view: d.FeatureView, scan: str, where: str) -> dict[str, str]:
        from lamina.features import engine, sources

        try:
            return engine.describe(con, scan)
        except Exception as exc:
            raise sources.unreachable(view, where, exc) from exc

    def _scan(self, con: Any, view: d.FeatureView) -> tuple[str, str]:
        """(SQL scanning the view's source on ``con``, where it is for messages)."""
        from lamina.features import sources

        url = view.source
        if sources.is_run_ref(url):
            table = self._artifact(view)[0]
            name = f"__lamina_src_{view.name}"
            con.register(name, table)
            return name, url
        resolved = sources.resolve_local(url, self.root)
        try:
            return sources.scan_sql(con, resolved), url
        except Exception as exc:
            raise sources.unreachable(view, url, exc) from exc

    def _data_read(self, view: d.FeatureView) -> tuple[Any, str]:
        """(Arrow table, content hash) of a ``data://`` source, read through
        ``lamina.data`` (so a read inside a step is recorded with the task)."""
        import lamina.data

        try:
            done = lamina.data.read_ref(view.source, stack=self.stack)
        except LaminaError as exc:
            raise FeatureStoreError(f"feature view {view.name!r}: {exc.message}",
                                    hint=exc.hint) from exc
        self._data_reads[view.source] = done.input.content_hash
        return done.table, done.input.content_hash

    def _artifact(self, view: d.FeatureView) -> tuple[Any, str]:
        """(Arrow table, content key) of a ``run://`` or ``data://`` source."""
        from lamina.features import sources

        if sources.is_data_ref(view.source):
            return self._data_read(view)
        ref = view.source[len(sources.RUN_SCHEME):]
        try:
            from lamina.client import Client

            client = Client(self.stack) if self.stack is not None else Client()
            target: Any = client.get(ref)
            task = target.task if hasattr(target, "task") and not hasattr(target, "ref") else target
            key = task.ref.key
            value = task.value
        except FeatureStoreError:
            raise
        except Exception as exc:
            raise sources.unreachable(view, view.source, exc) from exc
        if not sources.is_table(value):
            raise FeatureStoreError(
                f"feature view {view.name!r}: artifact {view.source!r} is a "
                f"{type(value).__name__}, not a table",
                hint="point the view at a step that returns a pyarrow.Table or pandas frame",
            )
        return sources.to_arrow(value), key

    def _view(self, name: str, version: int | None = None) -> d.FeatureView:
        v = self.registry.get("feature_view", name, version)
        cached = self._views.get((name, v.version))
        if cached is None:
            view = v.definition()
            assert isinstance(view, d.FeatureView)
            cached = self._views[(name, v.version)] = view
        return cached

    def list_definitions(self, revision: int | None = None) -> list[Version]:
        """The live definitions (as of ``revision``, default now)."""
        return self.registry.state(revision)

    def show(self, name: str, version: int | None = None) -> Version:
        """One definition (newest version, or ``version``)."""
        return self.registry.find(name, version)

    def history(self, name: str) -> list[Version]:
        v = self.registry.find(name)
        return self.registry.history(v.kind, name)

    def diff(self, a: int | None = None, b: int | None = None, *, name: str | None = None
             ) -> list[tuple[str, str, Any, Any]]:
        """What changed between two registry revisions (default: the previous and the
        newest), or with ``name`` between two versions of one definition: a list of
        ``(definition, field, in a, in b)``."""
        if name is not None:
            hist = self.history(name)
            vb = b if b is not None else hist[-1].version
            va = a if a is not None else max(vb - 1, 1)
            kind = hist[-1].kind
            sa = self.registry.get(kind, name, va).spec
            sb = self.registry.get(kind, name, vb).spec
            return [(f"{kind} {name}", f, x, y) for f, x, y in diff_specs(sa, sb)]
        newest = self.registry.revision()
        rb = newest if b is None else b
        ra = max(rb - 1, 0) if a is None else a
        state_a = {(v.kind, v.name): v for v in self.registry.state(ra)}
        state_b = {(v.kind, v.name): v for v in self.registry.state(rb)}
        out: list[tuple[str, str, Any, Any]] = []
        for key in sorted(set(state_a) | set(state_b)):
            va_, vb_ = state_a.get(key), state_b.get(key)
            if va_ is not None and vb_ is not None and va_.fingerprint == vb_.fingerprint:
                continue
            label = f"{key[0]} {key[1]}"
            out.append((label, "version", va_.version if va_ else None,
                        vb_.version if vb_ else None))
            out.extend((label, f, x, y) for f, x, y in
                       diff_specs(va_.spec if va_ else None, vb_.spec if vb_ else None))
        return out

    # ------------------------------------------------------------------ requests

    def resolve(self, features: Any) -> list[ResolvedView]:
        """Feature references (``"view:feature"``, ``"view:*"``), a :class:`FeatureService`
        or a service's name -> the views and features, in the order asked."""
        if isinstance(features, d.FeatureService):
            refs = list(features.features)
        elif isinstance(features, str):
            if ":" in features:
                refs = [features]
            else:
                svc = self.registry.get("feature_service", features).definition()
                assert isinstance(svc, d.FeatureService)
                refs = list(svc.features)
        else:
            refs = list(features)
        if not refs:
            raise FeatureStoreError("no features requested",
                                    hint='pass e.g. ["driver_stats:conv_rate"]')
        order: dict[str, list[str]] = {}
        for ref in refs:
            vname, fname = d.parse_ref(ref)
            view = self._view(vname)
            names = view.feature_names if fname == "*" else (view.feature(fname).name,)
            bucket = order.setdefault(vname, [])
            bucket.extend(n for n in names if n not in bucket)
        return [
            ResolvedView(self._view(v), self.registry.get("feature_view", v), tuple(fs))
            for v, fs in order.items()
        ]

    @staticmethod
    def _outputs(resolved: Sequence[ResolvedView], full_names: bool,
                 reserved: Sequence[str]) -> list[tuple[str, ...]]:
        seen: dict[str, str] = {}
        out = []
        for r in resolved:
            names = []
            for f in r.features:
                name = f"{r.view.name}__{f}" if full_names else f
                if name in seen or name in reserved:
                    other = seen.get(name, "the entity rows")
                    raise FeatureStoreError(
                        f"output column {name!r} of feature view {r.view.name!r} clashes "
                        f"with {other}",
                        hint="pass full_feature_names=True to name columns view__feature",
                    )
                seen[name] = f"feature view {r.view.name!r}"
                names.append(name)
            out.append(tuple(names))
        return out

    def get_historical_features(
        self,
        entities: Any,
        features: Any,
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
        as_pandas: bool = False,
    ) -> Any:
        """A point-in-time-correct training set.

        For each entity row (a ``pyarrow.Table``, a pandas frame, or a Parquet path/URL
        with the join keys and ``timestamp_column``) and each requested view: the values of
        the source row with the same keys and the latest event time at or before the row's
        timestamp, ties on event time broken by the latest created time, and only if it is
        no older than the view's TTL. Otherwise nulls. Rows keep their order and
        duplicates; a null key or timestamp matches nothing. No value from after the row's
        timestamp is ever returned.

        :param features: ``["view:feature", ...]``, a FeatureService or its name.
        :param full_feature_names: name columns ``view__feature`` instead of ``feature``.
        :param as_pandas: return a pandas DataFrame instead of an Arrow table.
        """
        table = self.historical(self.resolve(features), entities,
                                timestamp_column=timestamp_column,
                                full_feature_names=full_feature_names)
        return table.to_pandas() if as_pandas else table

    def historical(self, resolved: Sequence[ResolvedView], entities: Any, *,
                   timestamp_column: str = "event_timestamp",
                   full_feature_names: bool = False) -> Any:
        """The point-in-time join for views already resolved (possibly to older stored
        versions, as when a training set is rebuilt); an Arrow table."""
        from lamina.features import engine

        if self.options.engine != "duckdb":
            fast = self._numpy_join(resolved, entities, timestamp_column, full_feature_names)
            if fast is not None:
                return fast
        with contextlib.closing(self._connect()) as con:
            entity_rows = engine.entity_scan(con, entities)
            outputs = self._outputs(resolved, full_feature_names, entity_rows.columns)
            requests: list[ViewRequest] = []
            source_types: dict[str, dict[str, str]] = {}
            for r, outs in zip(resolved, outputs, strict=True):
                scan, where = self._scan(con, r.view)
                cols = self._describe(con, r.view, scan, where)
                engine.check_source(r.view, cols, where)
                source_types[r.view.name] = cols
                requests.append(engine.ViewRequest(r.view, scan, r.features, outs,
                                                   self._known_source_ties(r.view),
                                                   time_type=cols[r.view.timestamp_field]))
            engine.check_entities(entity_rows.types, timestamp_column, requests, source_types)
            try:
                return engine.point_in_time(con, entity_rows, timestamp_column, requests)
            except FeatureStoreError:
                raise
            except Exception as exc:
                raise FeatureStoreError(
                    f"point-in-time join of {', '.join(r.view.name for r in resolved)} "
                    f"failed: {type(exc).__name__}: {exc}",
                    hint="check the entity rows' and sources' column types",
                ) from exc

    def _numpy_join(self, resolved: Sequence[ResolvedView], entities: Any,
                    timestamp_column: str, full_feature_names: bool) -> Any:
        """The join on the numpy engine (:mod:`lamina.features.numpy_engine`), after the
        same checks as DuckDB's, on the Arrow schemas: no database is opened. ``None``
        when the data does not suit it and the store's ``engine`` lets DuckDB do it."""
        from lamina.features import engine, numpy_engine, sources

        try:
            rows, types = numpy_engine.entity_input(entities)
            outputs = self._outputs(resolved, full_feature_names, list(types))
            requests: list[ViewRequest] = []
            source_types: dict[str, dict[str, str]] = {}
            for r, outs in zip(resolved, outputs, strict=True):
                origin = (self._artifact(r.view)[0] if sources.is_run_ref(r.view.source)
                          else sources.resolve_local(r.view.source, self.root))
                source_types[r.view.name] = numpy_engine.source_types(r.view, origin)
                engine.check_source(r.view, source_types[r.view.name], r.view.source)
                requests.append(engine.ViewRequest(r.view, "", r.features, outs,
                                                   origin=origin))
            engine.check_entities(types, timestamp_column, requests, source_types)
            numpy_engine.check_suited(types, timestamp_column, requests, source_types)
            return numpy_engine.point_in_time(rows, timestamp_column, requests)
        except numpy_engine.Unsuited as exc:
            if self.options.engine == "numpy":
                raise FeatureStoreError(
                    f"the numpy engine cannot run this join: {exc}",
                    hint="set the feature store's engine to 'auto' (DuckDB takes what the "
                    "numpy engine cannot) or 'duckdb'",
                ) from None
            return None
        except FeatureStoreError:
            raise
        except Exception as exc:
            raise FeatureStoreError(
                f"point-in-time join of {', '.join(r.view.name for r in resolved)} on "
                f"the numpy engine failed: {type(exc).__name__}: {exc}",
                hint="check the entity rows' and sources' files; if they are sound, set "
                "the feature store's engine to 'duckdb' meanwhile and report this",
            ) from exc

    def lineage(self, resolved: Sequence[ResolvedView]) -> dict[str, Any]:
        """Which definitions and source snapshots a request used: per view its version,
        fingerprint, stored definition and the content hash of its source."""
        from lamina.features import sources

        out: dict[str, Any] = {}
        for r in resolved:
            url = r.view.source
            if sources.is_data_ref(url) and url in self._data_reads:
                digest = self._data_reads.pop(url)  # read for this request already
            elif sources.is_run_ref(url):
                digest = self._artifact(r.view)[1]
            else:
                digest = sources.content_hash(
                    r.view, sources.resolve_local(url, self.root), cache=self.registry
                )
            out[r.view.name] = {
                "version": r.version.version,
                "fingerprint": r.version.fingerprint,
                "features": list(r.features),
                "source": url,
                "source_hash": digest,
                "definition": r.version.spec,
            }
        return out

    # ------------------------------------------------------------------ online

    def _for_branch(self, name: str, sep: str) -> str:
        """``name`` qualified by the stack's branch (unchanged without a project): each
        branch of a project materializes into its own online tables and keeps its own
        materialization history, so one branch never serves another's values."""
        branch = getattr(self.stack, "branch", None)
        return name if branch is None else str(branch.qualify(name, sep))

    def _online_table(self, view: d.FeatureView, version: Version) -> str:
        return self._for_branch(f"{view.name}__{version.fingerprint[:12]}", "__")

    def materialize(self, start: Any, end: Any, views: Sequence[str] | None = None
                    ) -> dict[str, int]:
        """Load, per view and entity key, the newest row with event time in
        ``[start, end)`` into the online store (an older stored row is replaced, a newer
        one kept). ``start=None`` means from the beginning. Returns rows written per view.

        On a project's branch (``stack.branch``) the values go to the branch's own online
        tables (``churn__alice__VIEW__FINGERPRINT``), which only lookups on that branch read."""
        from lamina.features import engine, sources

        start_us = None if start is None else to_micros(start, "start")
        end_us = to_micros(end, "end")
        names = list(views) if views is not None else [
            v.name for v in self.registry.state(kind="feature_view")]
        written: dict[str, int] = {}
        for name in names:
            version = self.registry.get("feature_view", name)
            view = self._view(name)
            with contextlib.closing(self._connect()) as con:
                scan, where = self._scan(con, view)
                engine.check_source(view, self._describe(con, view, scan, where), where)
                keys = ", ".join(sources.quote(k) for k in view.join_keys)
                ts = sources.quote(view.timestamp_field)
                cts = (sources.quote(view.created_timestamp_field)
                       if view.created_timestamp_field else "NULL::TIMESTAMP")
                feats = ", ".join(sources.quote(f) for f in view.feature_names)
                cond = [f"{ts} < make_timestamp({end_us})"]
                if start_us is not None:
                    cond.append(f"{ts} >= make_timestamp({start_us})")
                nonnull = " AND ".join(f"{sources.quote(k)} IS NOT NULL" for k in view.join_keys)
                sql = (
                    f"SELECT {keys}, epoch_us({ts}), epoch_us({cts}), {feats} FROM {scan} "
                    f"WHERE {' AND '.join(cond)} AND {nonnull} QUALIFY row_number() OVER "
                    f"(PARTITION BY {keys} ORDER BY {ts} DESC, {cts} DESC NULLS LAST) = 1"
                )
                rows = con.execute(sql).fetchall()
            nk = len(view.join_keys)
            payload = [(tuple(r[:nk]), *r[nk:]) for r in rows]
            self.online.write(self._online_table(view, version), view.feature_names, payload,
                              ttl_seconds=view.ttl_seconds)
            self.registry.record_materialization(self._for_branch(name, "."),
                                                 version.fingerprint, start_us, end_us,
                                                 len(payload))
            written[name] = len(payload)
        return written

    def materialize_incremental(self, end: Any, views: Sequence[str] | None = None
                                ) -> dict[str, int]:
        """Materialize each view from where its last materialization ended (from the
        beginning for a view, or a view version, never materialized) up to ``end``."""
        names = list(views) if views is not None else [
            v.name for v in self.registry.state(kind="feature_view")]
        written: dict[str, int] = {}
        for name in names:
            version = self.registry.get("feature_view", name)
            last = self.registry.last_materialized(self._for_branch(name, "."),
                                                   version.fingerprint)
            start = None if last is None else last / 1_000_000
            written.update(self.materialize(start, end, [name]))
        return written

    def get_online_features(
        self,
        features: Any,
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: Any = None,
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """The newest materialized values for each entity row, or None where there is
        none or it is older than the view's TTL at ``now`` (default: the current time).

        :return: column -> list, one element per entity row: the join keys first, then
            the features.
        """
        resolved = self._resolved_online(features)
        now_us = time.time_ns() // 1000 if now is None else to_micros(now, "now")
        outputs = self._outputs(resolved, full_feature_names, ())
        result: dict[str, list[Any]] = {}
        for r in resolved:
            for k in r.view.join_keys:
                if k not in result:
                    result[k] = [row.get(k) for row in entity_rows]
        for r, outs in zip(resolved, outputs, strict=True):
            view = r.view
            join_keys = view.join_keys
            try:
                if len(join_keys) == 1:
                    only = join_keys[0]
                    keys = [(row[only],) for row in entity_rows]
                else:
                    keys = [tuple(row[k] for k in join_keys) for row in entity_rows]
            except KeyError as exc:
                raise FeatureStoreError(
                    f"an entity row lacks join key {exc.args[0]!r} of feature view "
                    f"{view.name!r}", hint=f"pass rows like {{{', '.join(repr(k) for k in view.join_keys)}: ...}}",
                ) from None
            found = self.online.read(self._online_table(view, r.version), r.features, keys)
            ttl = view.ttl_seconds
            oldest = None if ttl is None else now_us - round(ttl * 1_000_000)
            columns: list[list[Any]] = [[] for _ in outs]
            for key in keys:
                hit = found.get(key)
                if hit is None or (oldest is not None and hit[0] < oldest):
                    for col in columns:
                        col.append(None)
                else:
                    for col, value in zip(columns, hit[1], strict=True):
                        col.append(value)
            result.update(zip(outs, columns, strict=True))
        return result

    def _resolved_online(self, features: Any) -> list[ResolvedView]:
        # served per request: cache the resolution of a feature list for a short while
        cache_key = features if isinstance(features, str) else (
            features.name if isinstance(features, d.FeatureService) else tuple(features))
        cache = self.__dict__.setdefault("_online_cache", {})
        hit = cache.get(cache_key)
        if hit is not None and time.monotonic() - hit[0] < 5.0:
            return hit[1]  # type: ignore[no-any-return]
        resolved = self.resolve(features)
        cache[cache_key] = (time.monotonic(), resolved)
        return resolved

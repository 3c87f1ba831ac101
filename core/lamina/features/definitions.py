"""Feature definitions as plain Python values: entities, feature views, feature services.

They are frozen attrs classes, so a definition is a value that can be compared, hashed into
a fingerprint and stored; the registry keeps one version per distinct fingerprint, like code
is versioned by its content.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lamina.errors import FeatureStoreError

#: Feature types a definition may declare, and the DuckDB column types that satisfy each.
DTYPES: dict[str, tuple[str, ...]] = {
    "float64": ("DOUBLE",),
    "float32": ("FLOAT",),
    "float": ("DOUBLE", "FLOAT"),
    "int64": ("BIGINT",),
    "int32": ("INTEGER",),
    "int": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
            "UTINYINT", "HUGEINT"),
    "string": ("VARCHAR",),
    "bool": ("BOOLEAN",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMPTZ_NS",
                  "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"),
}
_TIMESTAMP_TYPES = DTYPES["timestamp"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise FeatureStoreError(
            f"{kind} name {name!r} is not a valid name",
            hint="use letters, digits and underscores, starting with a letter",
        )


def _as_seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        raise FeatureStoreError(
            f"ttl {value!r} is neither a datetime.timedelta nor a number of seconds",
            hint="write ttl=timedelta(hours=12), or None for no limit",
        )
    if seconds <= 0:
        raise FeatureStoreError(
            f"ttl {value!r} must be positive", hint="use None for no age limit"
        )
    return seconds


def fingerprint(data: Any) -> str:
    """The SHA-256 of a definition's canonical JSON: equal definitions, equal versions."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class Entity:
    """What features describe (a driver, a customer), identified by its join keys.

    :param name: the entity's name.
    :param join_keys: the columns identifying one instance, in the source and in the entity
        rows of a request; defaults to ``(name,)``.
    """

    name: str
    join_keys: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        _check_name("entity", self.name)
        if not self.join_keys:
            object.__setattr__(self, "join_keys", (self.name,))
        for key in self.join_keys:
            _check_name(f"entity {self.name!r} join key", key)

    kind = "entity"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "join_keys": list(self.join_keys),
                "description": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entity:
        return cls(data["name"], tuple(data["join_keys"]), data.get("description", ""))


@attrs.frozen
class Feature:
    """One feature column of a view and its declared type (a key of :data:`DTYPES`)."""

    name: str
    dtype: str = "float64"
    description: str = ""

    def __attrs_post_init__(self) -> None:
        _check_name("feature", self.name)
        if self.dtype not in DTYPES:
            raise FeatureStoreError(
                f"feature {self.name!r}: unknown type {self.dtype!r}",
                hint=f"use one of {', '.join(DTYPES)}",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description}


def _features(value: Iterable[Any]) -> tuple[Feature, ...]:
    out = []
    for item in value:
        if isinstance(item, Feature):
            out.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            out.append(Feature(item[0], item[1]))
        elif isinstance(item, str):
            out.append(Feature(item))
        else:
            raise FeatureStoreError(
                f"feature {item!r} is not a Feature, a (name, dtype) pair or a name",
                hint='write Feature("conv_rate", "float64")',
            )
    return tuple(out)


def _entities(value: Iterable[Any]) -> tuple[Entity, ...]:
    out = []
    for item in value:
        if isinstance(item, Entity):
            out.append(item)
        elif isinstance(item, str):
            out.append(Entity(item))
        else:
            raise FeatureStoreError(
                f"entity {item!r} is not an Entity", hint='write Entity("driver", ["driver_id"])'
            )
    return tuple(out)


@attrs.frozen(eq=False)
class FeatureView:
    """A set of features read from one source, with the time they were true.

    :param name: the view's name; features are requested as ``"name:feature"``.
    :param entities: the entities (or entity names) it describes; their join keys must be
        columns of the source.
    :param source: where the rows are: an fsspec URL (or path, or glob) of Parquet files, a
        ``pyarrow.Table`` (or pandas frame; stored as a Parquet snapshot when applied), or a
        flow artifact ``"run://RUN_ID/STEP[/INDEX]"``.
    :param features: the feature columns with their types.
    :param timestamp_field: the column saying when each row's values became true.
    :param created_timestamp_field: the column saying when the row was written; breaks ties
        between rows with the same event time (the latest write wins).
    :param ttl: how old a row may be and still count (``timedelta`` or seconds); None means
        no limit.
    """

    name: str
    entities: tuple[Entity, ...] = attrs.field(converter=_entities)
    source: Any
    features: tuple[Feature, ...] = attrs.field(converter=_features)
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    ttl: Any = None
    description: str = ""
    tags: dict[str, str] = attrs.field(factory=dict)
    #: Filled by the store when it snapshots an in-memory source: its content hash.
    source_hash: str = ""

    kind = "feature_view"

    def __attrs_post_init__(self) -> None:
        _check_name("feature view", self.name)
        _as_seconds(self.ttl)
        names = [f.name for f in self.features]
        if not names:
            raise FeatureStoreError(
                f"feature view {self.name!r} declares no features",
                hint='pass features=[Feature("name", "float64"), ...]',
            )
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise FeatureStoreError(
                f"feature view {self.name!r} declares feature(s) {sorted(dup)} twice",
                hint="give each feature one entry",
            )
        reserved = set(self.join_keys) | {self.timestamp_field}
        if self.created_timestamp_field:
            reserved.add(self.created_timestamp_field)
        clash = reserved & set(names)
        if clash:
            raise FeatureStoreError(
                f"feature view {self.name!r}: column(s) {sorted(clash)} are join keys or "
                "timestamps, not features",
                hint="remove them from features=",
            )

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for entity in self.entities:
            keys.extend(k for k in entity.join_keys if k not in keys)
        return tuple(keys)

    @property
    def ttl_seconds(self) -> float | None:
        return _as_seconds(self.ttl)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        from lamina.kernel.suggest import did_you_mean

        raise FeatureStoreError(
            f"feature view {self.name!r} has no feature {name!r}"
            f"{did_you_mean(name, self.feature_names)}",
            hint=f"its features are: {', '.join(self.feature_names)}",
        )

    @property
    def source_url(self) -> str | None:
        return self.source if isinstance(self.source, str) else None

    def to_dict(self) -> dict[str, Any]:
        if not isinstance(self.source, str):
            raise FeatureStoreError(
                f"feature view {self.name!r}: an in-memory source has no stored form until "
                "the view is applied",
                hint="call store.apply([...]) first; it snapshots the table as Parquet",
            )
        return {
            "name": self.name,
            "entities": [e.to_dict() for e in self.entities],
            "source": self.source,
            "source_hash": self.source_hash,
            "features": [f.to_dict() for f in self.features],
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "ttl_seconds": self.ttl_seconds,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureView:
        return cls(
            name=data["name"],
            entities=[Entity.from_dict(e) for e in data["entities"]],
            source=data["source"],
            features=[Feature(f["name"], f["dtype"], f.get("description", ""))
                      for f in data["features"]],
            timestamp_field=data["timestamp_field"],
            created_timestamp_field=data.get("created_timestamp_field"),
            ttl=data.get("ttl_seconds"),
            description=data.get("description", ""),
            tags=dict(data.get("tags") or {}),
            source_hash=data.get("source_hash", ""),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureView):
            return NotImplemented
        try:
            return self.to_dict() == other.to_dict()
        except FeatureStoreError:
            return self is other

    def __hash__(self) -> int:
        return hash(self.name)


@attrs.frozen
class FeatureService:
    """A named set of features for one model, so training and serving ask for the same.

    :param features: references ``"view:feature"`` (or ``"view:*"`` for all of a view).
    """

    name: str
    features: tuple[str, ...] = attrs.field(converter=tuple)
    description: str = ""

    kind = "feature_service"

    def __attrs_post_init__(self) -> None:
        _check_name("feature service", self.name)
        for ref in self.features:
            parse_ref(ref)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "features": list(self.features),
                "description": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureService:
        return cls(data["name"], tuple(data["features"]), data.get("description", ""))


Definition = Entity | FeatureView | FeatureService
KINDS: dict[str, type] = {"entity": Entity, "feature_view": FeatureView,
                          "feature_service": FeatureService}


def from_dict(kind: str, data: dict[str, Any]) -> Definition:
    """Rebuild a stored definition of ``kind``."""
    return KINDS[kind].from_dict(data)  # type: ignore[no-any-return, attr-defined]


def parse_ref(ref: str) -> tuple[str, str]:
    """``"view:feature"`` -> ``("view", "feature")``."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise FeatureStoreError(
            f"feature reference {ref!r} is not of the form 'view:feature'",
            hint='write "driver_stats:conv_rate" (or "driver_stats:*" for all its features)',
        )
    view, feature = ref.split(":")
    return view, feature


def collect(objects: Sequence[Any] | Any) -> list[Definition]:
    """Definitions from a list, or from a module's attributes (``lamina features apply``)."""
    if hasattr(objects, "__dict__") and not isinstance(objects, list | tuple):
        objects = list(vars(objects).values())
    return [o for o in objects if isinstance(o, Entity | FeatureView | FeatureService)]

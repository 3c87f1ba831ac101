"""The builtin model registry: versions, aliases and check results in the metadata store.

Versions and alias moves are rows of the metadata store (``model_versions``,
``model_alias_changes``, ``model_checks``): the same SQLite file or PostgreSQL schema as
the runs, so a team sharing a metadata store shares its registry. An alias's current
version is its latest move; the history is never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lamina.errors import ModelNotFoundError, ModelRegistryError
from lamina.interfaces.model_registry import AliasChange, ModelVersion


def current_aliases(changes: Sequence[AliasChange]) -> dict[str, int]:
    """alias -> version from an alias history (oldest first): each alias's latest move,
    removed aliases left out."""
    now: dict[str, int | None] = {}
    for change in changes:
        now[change.alias] = change.version
    return {alias: v for alias, v in now.items() if v is not None}


class MetadataModelRegistry:
    """A :class:`lamina.interfaces.ModelRegistry` on a metadata store, in one namespace.

    :param store: a metadata store with the registry methods of
        :class:`lamina.interfaces.MetadataStore` (``register_model_version``...).
    :param namespace: where versions are registered and read (the stack's branch).
    :param user: who registers and promotes (recorded).
    """

    def __init__(self, store: Any, namespace: str, user: str) -> None:
        if not callable(getattr(store, "register_model_version", None)):
            raise ModelRegistryError(
                f"the metadata store {type(store).__name__} keeps no model registry records",
                hint="upgrade the metadata plugin, or configure a registry plugin "
                '(registry = { plugin = "NAME" } in the stack)')
        self.store = store
        self.namespace = namespace
        self.user = user

    def __repr__(self) -> str:
        return f"MetadataModelRegistry({self.store!r}, namespace={self.namespace!r})"

    def _with_aliases(self, name: str, found: Sequence[ModelVersion]) -> list[ModelVersion]:
        aliases = current_aliases(self.store.list_alias_changes(self.namespace, name))
        by_version: dict[int, list[str]] = {}
        for alias, version in sorted(aliases.items()):
            by_version.setdefault(version, []).append(alias)
        return [attrs.evolve(v, aliases=tuple(by_version.get(v.version, ()))) for v in found]

    def register(self, name: str, ref: str, *, metadata: Mapping[str, Any] | None = None
                 ) -> ModelVersion:
        """The next version of ``name`` pointing at ``ref`` (``FLOW/RUN/STEP``)."""
        from lamina.registry import now_iso

        meta = dict(metadata or {})
        run_id = str(meta.pop("run_id", "") or (ref.split("/")[1] if ref.count("/") >= 2 else ""))
        return self.store.register_model_version(ModelVersion(  # type: ignore[no-any-return]
            name=name, version=0, ref=ref, run_id=run_id, namespace=self.namespace,
            registered_by=self.user, registered_at=now_iso(), metadata=meta,
        ))

    def get(self, name: str, version: int | None = None, *, alias: str | None = None
            ) -> ModelVersion:
        """One version by number or alias (the newest when neither is given)."""
        found = self.store.list_model_versions(self.namespace, name)
        where = f"in namespace {self.namespace}"
        if not found:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(
                f"no model named {name!r} is registered {where}",
                hint=f"registered models: {known} (lamina model register RUN/STEP --name "
                f"{name}; another namespace: --namespace, --branch or --production)")
        if alias is not None:
            aliases = current_aliases(self.store.list_alias_changes(self.namespace, name))
            if alias not in aliases:
                raise ModelNotFoundError(
                    f"model {name!r} has no alias {alias!r} {where}",
                    hint=f"its aliases: {', '.join(sorted(aliases)) or 'none'} (lamina model "
                    f"promote {name} VERSION --alias {alias})")
            version = aliases[alias]
        chosen = found[-1] if version is None else next(
            (v for v in found if v.version == version), None)
        if chosen is None:
            raise ModelNotFoundError(
                f"model {name!r} has no version {version} {where}",
                hint=f"its versions: 1..{found[-1].version} (lamina model versions {name})")
        return self._with_aliases(name, [chosen])[0]

    def versions(self, name: str) -> Sequence[ModelVersion]:
        """Every version of ``name``, oldest first, with its current aliases."""
        return self._with_aliases(name, self.store.list_model_versions(self.namespace, name))

    def names(self) -> Sequence[str]:
        """Every registered name in this namespace, sorted."""
        return list(self.store.list_model_names(self.namespace))

    def set_alias(self, name: str, version: int | None, alias: str, *, reason: str = "",
                  forced: bool = False) -> AliasChange:
        """Point ``alias`` at ``version`` (None removes it), recorded with user and time."""
        from lamina.registry import now_iso

        return self.store.record_alias_change(  # type: ignore[no-any-return]
            self.namespace, AliasChange(name=name, alias=alias, version=version,
                                        previous=None, user=self.user, at=now_iso(),
                                        reason=reason, forced=forced))

    def history(self, name: str) -> Sequence[AliasChange]:
        """Every alias move of ``name``, oldest first."""
        return list(self.store.list_alias_changes(self.namespace, name))

    # beyond the Protocol: the gates' records

    def record_check(self, name: str, version: int, result: Mapping[str, Any]) -> None:
        """Store a check suite's result with a version."""
        self.store.record_model_check(self.namespace, name, version, result)

    def checks(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Check results of ``name`` (one version's, if given), oldest first."""
        return list(self.store.list_model_checks(self.namespace, name, version))

"""The model registry: names, numbered versions and aliases for models a run produced.

``lamina model register RUN/STEP --name churn`` makes version 1, 2, ... of ``churn``;
``lamina model promote churn 7 --alias champion --reason ...`` moves an alias, recorded
with user, time and reason; serving accepts ``model:churn@champion``. The builtin registry
keeps its records in the stack's metadata store; a plugin can offer another through the
``lamina_model_registries`` hook. Trackers (MLflow, W&B) observe it through the
``lamina_model_registered`` and ``lamina_model_promoted`` lifecycle hooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs


@attrs.frozen
class ModelVersion:
    """One registered version of a named model.

    :param name: the model's name (``"churn"``).
    :param version: 1, 2, ... per name (and per namespace).
    :param ref: the artifact it points at, ``FLOW/RUN_ID/STEP`` (``"churn/2026.../train"``).
    :param run_id: the run that produced it.
    :param namespace: the namespace it was registered in (``user:ana``, a branch, production).
    :param registered_by: the user who registered it.
    :param registered_at: ISO 8601 UTC.
    :param aliases: aliases pointing at it now (``("champion",)``).
    :param metadata: free-form JSON-safe fields (metrics, description).
    """

    name: str
    version: int
    ref: str
    run_id: str
    namespace: str = ""
    registered_by: str = ""
    registered_at: str = ""
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class AliasChange:
    """One move of an alias: the registry's history, never rewritten."""

    name: str
    alias: str
    version: int | None  # None: the alias was removed
    previous: int | None
    user: str
    at: str
    reason: str = ""
    forced: bool = False


@runtime_checkable
class ModelRegistry(Protocol):
    """Named, versioned models with aliases and a history of every move."""

    def register(self, name: str, ref: str, *, metadata: Mapping[str, Any] | None = None
                 ) -> ModelVersion:
        """Make the next version of ``name`` pointing at the artifact ``ref``."""

    def get(self, name: str, version: int | None = None, *, alias: str | None = None
            ) -> ModelVersion:
        """One version by number or alias (the newest when neither is given)."""

    def versions(self, name: str) -> Sequence[ModelVersion]:
        """Every version of ``name``, oldest first."""

    def names(self) -> Sequence[str]:
        """Every registered name in the current namespace."""

    def set_alias(self, name: str, version: int | None, alias: str, *, reason: str = "",
                  forced: bool = False) -> AliasChange:
        """Point ``alias`` at ``version`` (None removes it); recorded in the history."""

    def history(self, name: str) -> Sequence[AliasChange]:
        """Every alias move of ``name``, oldest first."""

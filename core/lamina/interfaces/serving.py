"""The serving layer: put a model artifact behind an endpoint, with traffic splits.

A deployment (:class:`lamina.serving.Deployment`) names one or more model versions
(``FLOW/RUN/STEP`` references to :class:`lamina.serving.Model` artifacts) with traffic
weights, an optional sticky key and an optional mirror. The builtin ``local`` backend runs
``lamina serve`` processes; ``lamina-serving-seldon`` generates Seldon resources.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ServingBackend(Protocol):
    """Deploys model versions (artifact references) with traffic weights."""

    def deploy(self, deployment: Any, *, dry_run: bool = False) -> str:
        """Create or update a deployment; return its endpoint URL. With ``dry_run``, change
        nothing and return what would be done (the resources, the command)."""

    def undeploy(self, name: str) -> None:
        """Remove a deployment and everything it started."""

    def list_deployments(self) -> list[Any]:
        """What is deployed now."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""

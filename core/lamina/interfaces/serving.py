"""The serving layer: put a model artifact behind an endpoint, with traffic splits."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ServingBackend(Protocol):
    """Deploys model versions (artifact references) with traffic weights."""

    def deploy(self, deployment: Any) -> str:
        """Create or update a deployment; return its endpoint URL."""

    def undeploy(self, name: str) -> None:
        """Remove a deployment and everything it started."""

    def list_deployments(self) -> list[Any]:
        """What is deployed now."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""

"""Errors of the serving layer (all :class:`lamina.errors.LaminaError`)."""

from __future__ import annotations

from lamina.errors import LaminaError


class ServingError(LaminaError):
    """A model could not be served, or a deployment is wrong."""


class ModelRefError(ServingError):
    """A model reference names no run, step or flow."""


class ModelNotServableError(ServingError):
    """The artifact is not a :class:`lamina.serving.Model` (or cannot predict)."""


class SchemaError(ServingError):
    """A model has no schema, or its schema and its predictions disagree."""


class DeploymentError(ServingError):
    """A deployment spec is wrong: weights, names, variants, the spec file itself."""


class PortInUseError(ServingError):
    """The server's port is taken by another process."""


class PayloadError(ServingError):
    """A request does not fit the model's schema; answered with HTTP 400 naming ``field``."""

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field

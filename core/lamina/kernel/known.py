"""Moved to :mod:`lamina.kernel.distributions` (the one reader of installed
distributions); these names stay importable from here until the plugin manager imports
them from there."""

from lamina.kernel.distributions import (
    KNOWN_COMPONENTS,
    KNOWN_SCHEMES,
    distribution_for,
    distribution_for_scheme,
)

__all__ = ["KNOWN_COMPONENTS", "KNOWN_SCHEMES", "distribution_for", "distribution_for_scheme"]

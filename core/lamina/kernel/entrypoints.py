"""Moved to :mod:`lamina.kernel.distributions` (the one reader of installed
distributions); these names stay importable from here until the plugin manager imports
them from there."""

from lamina.kernel.distributions import EntryPoint, entry_points, normalize_name

__all__ = ["EntryPoint", "entry_points", "normalize_name"]

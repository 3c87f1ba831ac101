"""The builtin serializers and the registry that chooses among all installed ones.

Fast paths for numpy arrays, Arrow tables and pandas frames (streamed on save,
memory-mapped on load); everything else goes through cloudpickle. Each serializer lives in
its own module and imports its library only when a value of that library is seen, so
``import lamina`` never pays for numpy, pandas or pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lamina.errors import SerializationError
from lamina.interfaces.serializer import Serializer


def builtin_serializers() -> list[Serializer]:
    """The serializers lamina ships: numpy, Arrow, pandas, skops (scikit-learn objects,
    when skops is installed) and the cloudpickle fallback."""
    from lamina.datastore.serializers.arrow import ArrowSerializer
    from lamina.datastore.serializers.numpy import NumpySerializer
    from lamina.datastore.serializers.pandas import PandasSerializer
    from lamina.datastore.serializers.pickle import CloudpickleSerializer
    from lamina.datastore.serializers.skops_format import SkopsSerializer

    return [NumpySerializer(), ArrowSerializer(), PandasSerializer(), SkopsSerializer(),
            CloudpickleSerializer()]


def type_name(value: Any) -> str:
    """The qualified name of ``value``'s type, as recorded in an :class:`ArtifactRef`."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class SerializerRegistry:
    """All serializers of a stack, ordered by priority (highest first, stable)."""

    def __init__(self, serializers: Iterable[Serializer]) -> None:
        self._ordered = sorted(serializers, key=lambda s: -int(s.priority))
        self._by_name: dict[str, Serializer] = {}
        for s in self._ordered:
            # The first (highest priority) serializer of a name wins, as when choosing.
            self._by_name.setdefault(s.name, s)

    @property
    def names(self) -> list[str]:
        """Installed serializer names, highest priority first."""
        return list(self._by_name)

    def candidates(self, value: Any) -> list[Serializer]:
        """The serializers that say they can write ``value``, best first."""
        return [s for s in self._ordered if s.handles(value)]

    def choose(self, value: Any) -> Serializer:
        """The serializer that writes ``value``; raise if none handles it."""
        found = self.candidates(value)
        if not found:
            raise SerializationError(
                f"no installed serializer can write a value of type {type_name(value)} "
                f"(installed: {', '.join(self.names) or 'none'})",
                hint="install a plugin offering a serializer for this type, or return a "
                "picklable value",
            )
        return found[0]

    def get(self, name: str) -> Serializer:
        """The serializer recorded as ``name``; raise naming the installed ones if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise SerializationError(
                f"the artifact was written by serializer {name!r}, which is not installed "
                f"here (installed: {', '.join(self.names) or 'none'})",
                hint=f"install the plugin that provides serializer {name!r} in this "
                "environment (the same one the run used)",
            ) from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)


__all__ = ["SerializerRegistry", "builtin_serializers", "type_name"]

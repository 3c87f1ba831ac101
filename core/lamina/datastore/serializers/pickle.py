"""The fallback: any value cloudpickle can write (lambdas and local classes included)."""

from __future__ import annotations

from typing import IO, Any

PROTOCOL = 5


class CloudpickleSerializer:
    """Everything; chosen last (priority 0) so that the fast paths win when they apply."""

    name = "cloudpickle"
    priority = 0

    def handles(self, value: Any) -> bool:
        return True

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        """Write the canonical pickle of ``value`` (see :mod:`.canonical`): the same value
        gives the same bytes, so the same hash, in every process. A value that cannot be
        read back here (its class's ``__reduce__`` fails on load) is written as pickled."""
        import cloudpickle

        from lamina.datastore.serializers.canonical import canonical_value

        try:
            value = canonical_value(value, protocol=PROTOCOL)
            canonical = True
        except Exception:  # a value pickle can write but not read back
            canonical = False
        cloudpickle.dump(value, file, protocol=PROTOCOL)
        return {"protocol": PROTOCOL, "canonical": canonical}

    def load(self, path: str) -> Any:
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)

    def loads(self, data: bytes) -> Any:
        """Read a small object's bytes already in memory (the artifact store read and
        hashed them): saves opening the file a second time."""
        import pickle

        return pickle.loads(data)

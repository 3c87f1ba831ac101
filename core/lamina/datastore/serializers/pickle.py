"""The fallback: any value cloudpickle can write (lambdas and local classes included)."""

from __future__ import annotations

from typing import IO, Any

PROTOCOL = 5


class CloudpickleSerializer:
    """Everything; chosen last (priority 0) so that the fast paths win when they apply."""

    name = "cloudpickle"
    priority = 0
    #: Loading a pickle runs whatever code it holds: values of untrusted runs are not
    #: loaded without consent (lamina.datastore.trust).
    runs_code = True

    def handles(self, value: Any) -> bool:
        return True

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        """Write the canonical pickle of ``value`` (see :mod:`.canonical`): the same value
        gives the same bytes, so the same hash, in every process and machine."""
        from lamina.datastore.serializers.canonical import canonical_dump

        canonical_dump(value, file, protocol=PROTOCOL)
        return {"protocol": PROTOCOL}

    def load(self, path: str) -> Any:
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)

    def loads(self, data: bytes) -> Any:
        """Read a small object's bytes already in memory (the artifact store read and
        hashed them): saves opening the file a second time."""
        import pickle

        return pickle.loads(data)

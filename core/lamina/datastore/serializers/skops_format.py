"""scikit-learn estimators as skops files: loading one runs no code.

``skops.io`` stores an estimator as a zip of JSON and arrays and, when reading it back,
builds only the types it trusts (scikit-learn's, numpy's, scipy's...): a file that names
any other type is refused instead of executed, unlike a pickle. Used when skops is
installed (``pip install 'lamina[skops]'``) for any object whose class comes from
scikit-learn; an estimator skops cannot write (a custom function inside, say) falls back
to cloudpickle with a warning.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import IO, Any


@cache
def skops_installed() -> bool:
    """Whether ``skops`` can be imported (looked up once, without importing it)."""
    return importlib.util.find_spec("skops") is not None


class SkopsSerializer:
    """scikit-learn objects, read back without running code (skops' trusted types)."""

    name = "skops"
    priority = 50
    runs_code = False

    def handles(self, value: Any) -> bool:
        module = type(value).__module__
        return (module == "sklearn" or module.startswith("sklearn.")) and skops_installed()

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        import skops.io as sio

        file.write(sio.dumps(value))
        return {"format": "skops"}

    def load(self, path: str) -> Any:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        if untrusted:
            from lamina.errors import UntrustedArtifactError

            raise UntrustedArtifactError(
                f"the skops file names types skops does not trust: {', '.join(untrusted)}",
                hint="inspect the file (skops.io.get_untrusted_types); load it with "
                "skops.io.load(path, trusted=[...]) yourself if you trust its author",
            )
        return sio.load(path)

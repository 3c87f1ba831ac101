"""scikit-learn estimators as skops files: loading one runs no code.

``skops.io`` stores an estimator as a zip of JSON and arrays and, when reading it back,
builds only the types it trusts (scikit-learn's, numpy's, scipy's...): a file that names
any other type is refused instead of executed, unlike a pickle. Used when skops is
installed (``pip install 'lamina[skops]'``) for any object whose class comes from
scikit-learn, except tree-based ones (forests, gradient boosting: skops does not trust
their tree storage by default), which stay with cloudpickle; an estimator skops cannot
write or read back without trusting more types (a pipeline holding a forest, a custom
function) falls back to cloudpickle with a warning.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import IO, Any

#: Estimators built on scikit-learn's tree storage, which skops' loader does not trust by
#: default (``sklearn.tree._tree.Tree``): they go to cloudpickle.
_NOT_LOADABLE = ("sklearn.tree", "sklearn.ensemble")


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
        if module.startswith(_NOT_LOADABLE):  # trees: skops stores them, but its loader
            return False                      # does not trust them by default
        return (module == "sklearn" or module.startswith("sklearn.")) and skops_installed()

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        import skops.io as sio

        data = sio.dumps(value)
        untrusted = sio.get_untrusted_types(data=data)
        if untrusted:  # it could not be loaded back without trusting them: pickle it
            raise ValueError(f"skops would not load it back without trusting "
                             f"{', '.join(untrusted)}")
        file.write(data)
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

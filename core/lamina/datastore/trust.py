"""Which runs' pickles this process loads without asking.

Unpickling runs code: a pickle can hold any instruction, executed the moment it is read.
So values stored by a pickle-family serializer (``cloudpickle``: any serializer whose
``runs_code`` is true) are loaded only from runs in a *trusted* namespace, unless the
caller consents (``task.load(trust=True)``). Arrow, numpy, pandas and skops values load
from anywhere: reading them runs no code.

Trusted by default: your own namespace (``user:NAME``), your own branch of any project
(``project:*/branch:NAME``), the branch the stack acts for, every branch of the config's
project (``project:P/*``), and any run you launched yourself: the runs you or your
project's code produced. A colleague's
personal run needs consent, or a ``trusted_namespaces`` entry in the stack:

.. code-block:: toml

    [stacks.team]
    trusted_namespaces = ["user:alice", "project:churn/*"]   # fnmatch patterns, added
    allow_pickle = "trusted"          # "trusted" (default), "always" or "never"
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import attrs

from lamina.errors import UntrustedArtifactError
from lamina.namespaces import user_namespace

__all__ = ["ALLOW_PICKLE", "TrustPolicy", "record_namespace"]

#: The values of ``allow_pickle``.
ALLOW_PICKLE = ("trusted", "always", "never")


def record_namespace(namespace: str, user: str) -> str:
    """A run's namespace: as recorded, or ``user:USER`` for a record written before
    namespaces existed."""
    return namespace or user_namespace(user or "unknown")


@attrs.frozen
class TrustPolicy:
    """What ``allow_pickle`` and ``trusted_namespaces`` of a stack say.

    :param allow_pickle: ``trusted`` (pickles of trusted namespaces only), ``always``
        (every pickle: the behaviour before this setting existed) or ``never`` (no pickle
        without consent).
    :param namespaces: namespace patterns trusted (``fnmatch``: ``project:churn/*``).
    :param user: who reads; runs this user launched are trusted in any namespace (their
        own experiments on a colleague's branch, their production deploys).
    """

    allow_pickle: str = attrs.field(default="trusted",
                                    validator=attrs.validators.in_(ALLOW_PICKLE))
    namespaces: tuple[str, ...] = ()
    user: str = ""

    @classmethod
    def default(cls, user: str, project: str | None, extra: Iterable[str] = (),
                allow_pickle: str = "trusted") -> TrustPolicy:
        """The user's own namespace, their own branch of any project, every branch of
        ``project``, and ``extra``."""
        from lamina.namespaces import user_branch_name

        own = [user_namespace(user), f"project:*/branch:{user_branch_name(user)}"]
        if project:
            own.append(f"project:{project}/*")
        return cls(allow_pickle=allow_pickle, namespaces=tuple(dict.fromkeys((*own, *extra))),
                   user=user)

    def trusts(self, namespace: str, launched_by: str = "") -> bool:
        """Whether pickles of a run in ``namespace`` (launched by ``launched_by``) load
        without consent."""
        if self.allow_pickle == "always":
            return True
        if self.allow_pickle == "never":
            return False
        if self.user and launched_by == self.user:
            return True
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.namespaces)

    def refuse(self, what: str, namespace: str, serializer: str) -> UntrustedArtifactError:
        """The error for a pickle of ``namespace`` loaded without consent."""
        why = ("allow_pickle = \"never\"" if self.allow_pickle == "never" else
               f"{namespace} is not a trusted namespace (trusted: "
               f"{', '.join(self.namespaces) or 'none'})")
        return UntrustedArtifactError(
            f"{what} was stored with {serializer!r}, and loading a pickle runs whatever code "
            f"it holds; {why}, so it is not loaded",
            hint="if you trust whoever made that run: task.load(trust=True) (or "
            f"run[STEP].load(trust=True)), or add {namespace!r} to trusted_namespaces in "
            "the stack; see docs/security.md",
        )

"""Which variant answers a request: random by weight, or sticky by a request key."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence


class Router:
    """Splits traffic over variants by weight (percent).

    Without a key each request draws at random. With a key (a user id, a session id) the
    choice is a hash of the deployment name and the key, so a key always gets the same
    variant while the weights stay the same, and two experiments do not split users the
    same way.
    """

    def __init__(self, deployment: str, weights: Sequence[float], *, seed: int | None = None) -> None:
        total = float(sum(weights))
        self._cum: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self._cum.append(acc)
        self._cum[-1] = 1.0
        self._salt = deployment.encode() + b"\x00"
        self._random = random.Random(seed).random if seed is not None else random.random
        self._n = len(self._cum)

    def _pick(self, u: float) -> int:
        i = bisect.bisect_right(self._cum, u)
        return min(i, self._n - 1)

    def choose(self, key: str | None = None) -> int:
        """The index of the variant for a request with ``key`` (None: random)."""
        if self._n == 1:
            return 0
        if key is None:
            return self._pick(self._random())
        digest = hashlib.blake2b(self._salt + key.encode(), digest_size=8).digest()
        return self._pick(int.from_bytes(digest, "big") / 2.0**64)

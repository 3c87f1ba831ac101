"""A stack's retention policy: which runs ``lamina gc`` keeps, and for how long prediction
logs and monitoring outputs stay.

::

    [stacks.prod.retention]
    keep_last = 20                  # the newest 20 runs of each flow
    keep_last_per_branch = 5        # ... and the newest 5 of each flow on each branch
    keep_newer_than = "30d"         # every run younger than 30 days
    protected_tags = ["keep", "paper"]
    grace = "24h"                   # unreferenced objects younger than this stay
    prediction_logs_max_age = "90d"
    monitoring_max_age = "180d"

Every running run, every run in a production namespace, every run tagged with a
protected tag and every run a keeper names (``lamina_retention_keep``: registered model
versions, serving deployments, feature materializations, the step cache) is kept whatever
the numbers say. See docs/retention.md.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["RetentionOptions", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | float, what: str = "duration") -> float:
    """Seconds in ``"30d"``, ``"24h"``, ``"90m"``, ``"45s"``, ``"2w"`` or a plain number
    of seconds. Raises ValueError naming ``what`` and the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a duration such as \"24h\", got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(
                f"{what} must be a duration such as \"30d\", \"24h\", \"90m\" or \"45s\", "
                f"got {value!r}"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return seconds


def _duration(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value != "":
        parse_duration(value, attribute.name)


def _duration_required(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    parse_duration(value, attribute.name)


def _not_negative(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value!r}")


@attrs.frozen
class RetentionOptions:
    """The ``retention`` table of a stack (``[stacks.S.retention]``).

    :param keep_last: keep the newest N runs of each flow (0: none for this reason).
    :param keep_last_per_branch: keep the newest N runs of each flow in each namespace
        (each person's runs, each branch of a project).
    :param keep_newer_than: keep every run started less than this long ago (``"30d"``,
        ``"24h"``; ``""``: no age rule).
    :param protected_tags: a run with any of these tags is never deleted.
    :param keep_production: keep every run of a production namespace.
    :param grace: an object nothing kept points at is deleted only once it is older than
        this: it may belong to a run whose records are not written yet. Make it longer
        than your longest task.
    :param prediction_logs_max_age: delete prediction-log and outcome parts
        (``predictions/``, ``outcomes/``) older than this (``""``: keep them all).
    :param monitoring_max_age: delete monitoring runs (tag ``monitoring``) and their HTML
        reports older than this, whatever ``keep_last`` says (``""``: they follow the
        rules of every run).
    """

    keep_last: int = attrs.field(default=10, validator=_not_negative)
    keep_last_per_branch: int = attrs.field(default=3, validator=_not_negative)
    keep_newer_than: str = attrs.field(default="30d", validator=_duration)
    protected_tags: tuple[str, ...] = ("keep",)
    keep_production: bool = True
    grace: str = attrs.field(default="24h", validator=_duration_required)
    prediction_logs_max_age: str = attrs.field(default="", validator=_duration)
    monitoring_max_age: str = attrs.field(default="", validator=_duration)

    def seconds(self, name: str) -> float | None:
        """The duration option ``name`` in seconds, or None when it is empty."""
        value = getattr(self, name)
        return None if value == "" else parse_duration(value, name)

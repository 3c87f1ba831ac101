"""A deployment: a name, model variants with traffic weights, an optional sticky key and
an optional mirror (shadow) model. Read from a TOML spec file or built from CLI options::

    name = "churn-ab"
    sticky_key = "user-id"          # a request header, or a field of "parameters"
    port = 8081                     # local server only

    [[variants]]
    name = "a"
    model = "churn/1a2b3c/model"
    weight = 80

    [[variants]]
    name = "b"
    model = "churn/latest/model"
    weight = 20

    [mirror]                        # gets a copy of every request; its answers are logged only
    model = "churn/9f8e7d/model"

    [batching]                      # local server: adaptive batching (off by default)
    max_batch_size = 32             # requests stacked into one predict call, at most
    max_batch_wait_ms = 2           # how long the first request of a batch waits for others
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.serving.errors import DeploymentError

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(name: str, what: str) -> str:
    """Names become URL path parts, log partitions and Kubernetes names: DNS-1123 labels."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 63:
        raise DeploymentError(
            f"{what} {name!r} is not a valid name",
            hint="use lowercase letters, digits and '-', starting and ending with a letter "
            "or digit, at most 63 characters",
        )
    return name


@attrs.frozen
class Variant:
    """One model version of a deployment and its share of the traffic (percent)."""

    name: str
    model: str
    weight: float = 100.0


@attrs.frozen
class Batching:
    """Adaptive batching: requests that arrive together are stacked into one predict call
    and each gets its own rows of the answer (see docs/serving.md, "Adaptive batching").

    :param max_batch_size: the most requests stacked into one predict call; 1 turns
        batching off (the default).
    :param max_batch_wait_ms: how long the first request of a batch waits for others
        when the model is idle. While a batch is predicting, the requests that arrive
        wait for it anyway and form the next batch, so 0 (the default) still batches
        under load and adds no wait when the server is quiet.
    """

    max_batch_size: int = 1
    max_batch_wait_ms: float = 0.0

    def __attrs_post_init__(self) -> None:
        if type(self.max_batch_size) is not int or self.max_batch_size < 1:
            raise DeploymentError(
                f"batching: max_batch_size must be a whole number of requests, 1 or more, "
                f"got {self.max_batch_size!r}", hint="max_batch_size = 32 (1 turns batching off)")
        if isinstance(self.max_batch_wait_ms, bool) or not isinstance(
                self.max_batch_wait_ms, int | float) or not 0 <= self.max_batch_wait_ms <= 10_000:
            raise DeploymentError(
                f"batching: max_batch_wait_ms must be milliseconds from 0 to 10000, got "
                f"{self.max_batch_wait_ms!r}", hint="max_batch_wait_ms = 2")

    @property
    def enabled(self) -> bool:
        """Whether requests are batched at all."""
        return self.max_batch_size > 1

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "deployment") -> Batching:
        """From a spec's ``[batching]`` table; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise DeploymentError(f"{where}: batching must be a table, not {data!r}",
                                  hint="[batching] with max_batch_size and max_batch_wait_ms")
        unknown = sorted(set(data) - {"max_batch_size", "max_batch_wait_ms"})
        if unknown:
            raise DeploymentError(f"{where}: batching: unknown key {unknown[0]!r}",
                                  hint="keys are: max_batch_size, max_batch_wait_ms")
        return cls(**data)


def _batching(value: Any) -> Batching:
    if isinstance(value, Batching):
        return value
    return Batching() if value is None else Batching.from_dict(value)


def _str_tuple(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class Deployment:
    """What a serving backend deploys. Weights are percentages summing to 100.

    ``deployed`` is who deployed it, when and for which branch
    (``deployed_by``, ``deployed_at``, ``project``, ``branch``, ``namespace``,
    ``production``), set with the branch-qualified name by
    :func:`lamina.serving.deployment.for_branch`; empty until then."""

    name: str
    variants: tuple[Variant, ...]
    sticky_key: str | None = None
    mirror: Variant | None = None
    port: int | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    #: Features looked up by entity key before predicting (a feature service's name, or
    #: ``view:feature`` names): requests then carry the keys, not the features.
    features: tuple[str, ...] = attrs.field(default=(), converter=lambda v: _str_tuple(v))
    deployed: Mapping[str, Any] = attrs.field(factory=dict)
    #: Adaptive batching of the local server (off unless ``max_batch_size`` > 1).
    batching: Batching = attrs.field(factory=Batching, converter=_batching)

    def __attrs_post_init__(self) -> None:
        check_name(self.name, "deployment name")
        if not self.variants:
            raise DeploymentError(f"deployment {self.name!r} has no variants",
                                  hint="name at least one model")
        seen: set[str] = set()
        for v in (*self.variants, *([self.mirror] if self.mirror else [])):
            check_name(v.name, f"deployment {self.name!r}: variant name")
            if v.name in seen:
                raise DeploymentError(f"deployment {self.name!r}: variant {v.name!r} appears twice",
                                      hint="give every variant its own name")
            seen.add(v.name)
            if not v.model:
                raise DeploymentError(f"deployment {self.name!r}: variant {v.name!r} has no model",
                                      hint="model = \"FLOW/RUN/STEP\"")
        for v in self.variants:
            if not v.weight >= 0:
                raise DeploymentError(f"deployment {self.name!r}: variant {v.name!r} has a "
                                      f"negative weight {v.weight}", hint="weights are percents, 0..100")
        total = sum(v.weight for v in self.variants)
        if abs(total - 100.0) > 1e-6:
            parts = " + ".join(f"{v.name}={v.weight:g}" for v in self.variants)
            raise DeploymentError(
                f"deployment {self.name!r}: variant weights {parts} sum to {total:g}, not 100",
                hint="make the percentages add up to 100",
            )
        if self.port is not None and not 0 <= self.port <= 65535:
            raise DeploymentError(f"deployment {self.name!r}: port {self.port} is not a TCP port")

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "deployment") -> Deployment:
        """Build from a spec table; unknown keys are errors (a typo must not be ignored)."""
        allowed = {"name", "variants", "sticky_key", "mirror", "shadow", "port", "options",
                   "features", "deployed", "batching"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise DeploymentError(f"{where}: unknown key {unknown[0]!r}",
                                  hint=f"keys are: {', '.join(sorted(allowed))}")
        if "name" not in data:
            raise DeploymentError(f"{where}: no name", hint='name = "my-model"')
        raw_variants = data.get("variants")
        if not isinstance(raw_variants, list) or not raw_variants:
            raise DeploymentError(f"{where}: no [[variants]]",
                                  hint='[[variants]] with name, model = "FLOW/RUN/STEP", weight')
        variants = []
        for i, v in enumerate(raw_variants):
            if not isinstance(v, Mapping) or "model" not in v:
                raise DeploymentError(f"{where}: variants[{i}] has no model",
                                      hint='model = "FLOW/RUN/STEP"')
            extra = sorted(set(v) - {"name", "model", "weight"})
            if extra:
                raise DeploymentError(f"{where}: variants[{i}]: unknown key {extra[0]!r}",
                                      hint="keys are: name, model, weight")
            weight = v.get("weight", 100.0 if len(raw_variants) == 1 else None)
            if weight is None:
                raise DeploymentError(f"{where}: variants[{i}] has no weight",
                                      hint="give every variant a weight (percent)")
            variants.append(Variant(str(v.get("name", f"v{i}")), str(v["model"]), float(weight)))
        mirror = data.get("mirror") or data.get("shadow")
        mirror_v = None
        if mirror:
            if isinstance(mirror, str):
                mirror = {"model": mirror}
            mirror_v = Variant(str(mirror.get("name", "mirror")), str(mirror["model"]), 0.0)
        port = data.get("port")
        return cls(
            name=str(data["name"]), variants=tuple(variants),
            sticky_key=data.get("sticky_key"), mirror=mirror_v,
            port=int(port) if port is not None else None,
            options=dict(data.get("options") or {}),
            features=_features(data.get("features"), where),
            deployed=dict(data.get("deployed") or {}),
            batching=Batching.from_dict(data["batching"], where=where)
            if data.get("batching") is not None else Batching(),
        )


def _features(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DeploymentError(f"{where}: features must be a feature service's name or a "
                              f"list of \"view:feature\" names, not {value!r}",
                              hint='features = "driver_service"')
    return tuple(value)


def load_spec(path: str | Path) -> Deployment:
    """Read a deployment spec file (TOML; a JSON file is accepted too)."""
    import json
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise DeploymentError(f"deployment spec {p} does not exist",
                              hint="write a TOML file with name and [[variants]] (docs/serving.md)")
    try:
        data = json.loads(p.read_text()) if p.suffix == ".json" else tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise DeploymentError(f"deployment spec {p}: {exc}", hint="fix the file's syntax") from None
    return Deployment.from_dict(data, where=str(p))


def parse_variant(text: str) -> Variant:
    """``NAME=REF:WEIGHT`` (the ``--variant`` option); ``REF:WEIGHT`` names it by position."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = "", text
    ref, sep, weight = rest.rpartition(":")
    if not sep or not ref:
        raise DeploymentError(f"--variant {text!r} is not NAME=REF:WEIGHT",
                              hint="e.g. --variant a=churn/1a2b/model:80")
    try:
        w = float(weight)
    except ValueError:
        raise DeploymentError(f"--variant {text!r}: weight {weight!r} is not a number",
                              hint="e.g. --variant a=churn/1a2b/model:80") from None
    return Variant(name, ref, w)


def deployment_from_options(
    model: str | None,
    variants: Sequence[str] = (),
    *,
    name: str | None = None,
    sticky_key: str | None = None,
    mirror: str | None = None,
    port: int | None = None,
    features: Sequence[str] = (),
    batching: Batching | None = None,
) -> Deployment:
    """The deployment ``lamina serve`` describes with its options."""
    parsed = [parse_variant(v) for v in variants]
    if model and parsed:
        raise DeploymentError("give either MODEL_REF or --variant options, not both",
                              hint="lamina serve --variant a=REF_A:80 --variant b=REF_B:20")
    if model:
        parsed = [Variant("default", model, 100.0)]
    if not parsed:
        raise DeploymentError("no model to serve", hint="lamina serve FLOW/RUN/STEP")
    parsed = [attrs.evolve(v, name=v.name or f"v{i}") for i, v in enumerate(parsed)]
    if name is None:
        first = parsed[0].model.strip().removeprefix("model:").split("@")[0]
        name = re.sub(r"[^a-z0-9-]+", "-", first.split("/")[0].lower()).strip("-") or "model"
    return Deployment(
        name=name, variants=tuple(parsed), sticky_key=sticky_key,
        mirror=Variant("mirror", mirror, 0.0) if mirror else None, port=port,
        features=tuple(features), batching=batching or Batching(),
    )

"""How a plugin announces a component: its layer, its name, its options and a factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

Layer = Literal[
    "datastore", "compute", "orchestrator", "metadata", "feature_store", "serving", "monitoring",
    "registry",
]

#: The layers in the order a stack lists them; also the keys of a stack's config table.
LAYERS: tuple[str, ...] = (
    "datastore",
    "compute",
    "orchestrator",
    "metadata",
    "feature_store",
    "serving",
    "monitoring",
    "registry",
)


@attrs.frozen
class ComponentSpec:
    """A named implementation of one layer, offered by a plugin.

    :param layer: which layer it implements.
    :param name: the name a stack uses (``plugin = "s3"``); unique per layer.
    :param config: an attrs class of the component's options. The stack's table is turned
        into it (``build_options``: strict types, did-you-mean, file:line) and validated
        *before* ``factory`` runs, so a wrong option never reaches the component's code.
    :param factory: ``factory(config, stack) -> component``. Import heavy dependencies
        inside it, never at the top of the plugin module, so ``lamina --help`` stays fast.
    :param description: one line for ``lamina plugins``.
    :param url_schemes: for a datastore, the URL schemes it serves (``("s3",)``), so that a
        bare URL in a stack (``datastore = "s3://b/p"``) finds its component.
    :param install_hint: the ``pip install`` line users need for this component's extra
        dependencies, shown when a backend library is missing.
    """

    layer: Layer
    name: str
    config: type
    factory: Callable[[Any, Any], Any]
    description: str = ""
    url_schemes: tuple[str, ...] = ()
    install_hint: str = ""
    #: Filled in by the plugin manager: the distribution that offered it.
    distribution: str = ""
    distribution_version: str = ""

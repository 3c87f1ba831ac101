"""One of two plugins offering the same compute component name, 'twin'."""

import attrs

from lamina import hookimpl
from lamina.interfaces import ComponentSpec


@attrs.frozen
class TwinOptions:
    pass


def _build(options, stack):
    return object()


@hookimpl
def lamina_compute_backends():
    return [ComponentSpec(layer="compute", name="twin", config=TwinOptions, factory=_build,
                          description="twin from dup_b")]

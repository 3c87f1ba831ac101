"""The ``seldon`` serving component: Seldon Core v2 ``Model``/``Experiment`` resources (and a
Core v1 ``SeldonDeployment``) whose models MLServer loads with the lamina runtime.

Imported on every ``lamina`` invocation: options only; the backend loads on use.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.sdk import ComponentSpec, hookimpl


@attrs.frozen
class SeldonOptions:
    """Options of the ``seldon`` serving component.

    :param namespace: the Kubernetes namespace of the generated resources.
    :param core_version: ``v2`` (Model + Experiment), ``v1`` (SeldonDeployment) or ``both``.
    :param server: the Seldon Core v2 Server that runs MLServer with the lamina runtime
        (its image installs ``lamina-serving-seldon[mlserver]``); empty: scheduled by
        ``requirements``.
    :param requirements: capabilities a v2 Server must offer to get the models.
    :param image: the MLServer image with the lamina runtime (v1 SeldonDeployment).
    :param datastore_url: the datastore URL the runtime reads models from inside the
        cluster (default: the stack's datastore URL).
    :param output_dir: where ``lamina deploy`` writes the manifests (relative to the project).
    :param apply: run ``kubectl apply -f`` on the written manifests.
    :param inference_url: the Seldon mesh (or ingress) URL, for the endpoint shown.
    """

    namespace: str = "default"
    core_version: str = attrs.field(default="v2", validator=attrs.validators.in_(("v1", "v2", "both")))
    server: str = ""
    requirements: tuple[str, ...] = attrs.field(default=("lamina",), converter=tuple)
    image: str = "seldonio/mlserver:1.7.1"
    datastore_url: str = ""
    output_dir: str = ".lamina/seldon"
    apply: bool = False
    inference_url: str = "http://seldon-mesh"


def _seldon(options: SeldonOptions, stack: Any) -> Any:
    from lamina_serving_seldon.backend import SeldonBackend

    return SeldonBackend(options, stack)


@hookimpl
def lamina_serving_backends() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="serving",
            name="seldon",
            config=SeldonOptions,
            factory=_seldon,
            description="Seldon Core v2 Model/Experiment (or v1 SeldonDeployment) on MLServer",
            install_hint="pip install lamina-serving-seldon",
        )
    ]

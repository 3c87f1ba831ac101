"""The contract of each layer: one small Protocol per layer, plus how a plugin offers one.

A plugin implements the Protocol of its layer and announces it with a
:class:`ComponentSpec` from the layer's hook (see :mod:`lamina.hookspecs`). The core talks
to components only through these Protocols; it never knows which plugin it holds.
"""

from lamina.interfaces.component import LAYERS, ComponentSpec, Layer
from lamina.interfaces.compute import Compute, PodCompute, RendersTasks
from lamina.interfaces.datastore import BufferDatastore, CollectableDatastore, Datastore
from lamina.interfaces.feature_store import FeatureStore
from lamina.interfaces.metadata import CollectableMetadataStore, MetadataStore
from lamina.interfaces.monitoring import Monitor
from lamina.interfaces.orchestrator import Orchestrator
from lamina.interfaces.serializer import BufferSerializer, Serializer
from lamina.interfaces.serving import ServingBackend

__all__ = [
    "LAYERS",
    "BufferDatastore",
    "BufferSerializer",
    "CollectableDatastore",
    "CollectableMetadataStore",
    "ComponentSpec",
    "Compute",
    "Datastore",
    "FeatureStore",
    "Layer",
    "MetadataStore",
    "Monitor",
    "Orchestrator",
    "PodCompute",
    "RendersTasks",
    "Serializer",
    "ServingBackend",
]

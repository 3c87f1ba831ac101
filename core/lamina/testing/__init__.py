"""The conformance kit: one abstract pytest suite per layer, for every backend to pass.

A plugin author subclasses the suite of their layer in a test module (named ``Test*`` so
that pytest collects it) and overrides the fixture that builds their component; every
``test_*`` method of the suite then runs against it::

    import pytest
    from lamina.testing import DatastoreSuite

    class TestMyDatastore(DatastoreSuite):
        @pytest.fixture
        def datastore(self, tmp_path):
            return MyDatastore(root=tmp_path)

The suites test the semantics the Protocols in :mod:`lamina.interfaces` promise, and the
parts the Protocols leave unsaid are written down in each suite's docstring: that text is
the contract. See docs/testing.md.

=============================  =================================  ======================
suite                          fixture(s) to override             layer
=============================  =================================  ======================
:class:`DatastoreSuite`        ``datastore``                      datastore
:class:`MetadataSuite`         ``metadata_store``                 metadata
:class:`ComputeSuite`          ``compute_stack``                  compute
:class:`OrchestratorSuite`     ``orchestrator_stack``             orchestrator
:class:`ServingBackendSuite`   ``serving_stack``                  serving
:class:`FeatureStoreSuite`     ``feature_store``                  feature store
:class:`OnlineStoreSuite`      ``online_store``                   feature store (online)
:class:`MonitorSuite`          ``monitor``                        monitoring
:class:`DataSourceSuite`       ``data_source``                    data (sources)
=============================  =================================  ======================

This package needs pytest (``pip install 'lamina[testing]'``). lamina itself never imports
it, so ``import lamina`` stays cheap. The suites' modules are registered for pytest's
assertion rewriting, so a failed check shows the values it compared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina._lazy import lazy_exports

try:
    import pytest
except ImportError as error:
    raise ImportError(
        "lamina.testing (the conformance kit) needs pytest, which is not installed; "
        "fix: pip install 'lamina[testing]'"
    ) from error

pytest.register_assert_rewrite(
    "lamina.testing.compute",
    "lamina.testing.data_sources",
    "lamina.testing.datastore",
    "lamina.testing.feature_store",
    "lamina.testing.flows",
    "lamina.testing.metadata",
    "lamina.testing.monitoring",
    "lamina.testing.online_store",
    "lamina.testing.orchestrator",
    "lamina.testing.serving",
)

if TYPE_CHECKING:
    from lamina.testing.compute import ComputeSuite
    from lamina.testing.data_sources import DataSourceSuite
    from lamina.testing.datastore import DatastoreSuite
    from lamina.testing.feature_store import FeatureStoreSuite
    from lamina.testing.flows import write_flow
    from lamina.testing.metadata import MetadataSuite
    from lamina.testing.monitoring import MonitorSuite
    from lamina.testing.online_store import OnlineStoreSuite
    from lamina.testing.orchestrator import OrchestratorSuite
    from lamina.testing.serving import ServingBackendSuite

_LAZY = {
    "ComputeSuite": "lamina.testing.compute",
    "DataSourceSuite": "lamina.testing.data_sources",
    "DatastoreSuite": "lamina.testing.datastore",
    "FeatureStoreSuite": "lamina.testing.feature_store",
    "MetadataSuite": "lamina.testing.metadata",
    "MonitorSuite": "lamina.testing.monitoring",
    "OnlineStoreSuite": "lamina.testing.online_store",
    "OrchestratorSuite": "lamina.testing.orchestrator",
    "ServingBackendSuite": "lamina.testing.serving",
    "write_flow": "lamina.testing.flows",
}

__all__ = [
    "ComputeSuite",
    "DataSourceSuite",
    "DatastoreSuite",
    "FeatureStoreSuite",
    "MetadataSuite",
    "MonitorSuite",
    "OnlineStoreSuite",
    "OrchestratorSuite",
    "ServingBackendSuite",
    "write_flow",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

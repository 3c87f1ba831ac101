"""The serving layer: a flow's model behind an Open Inference Protocol (V2) endpoint, A/B
traffic splits, and the prediction log the monitoring layer reads.

::

    from lamina.serving import Model, Schema

    @flow.step
    def model(data):
        clf = LogisticRegression().fit(data["X"], data["y"])
        return Model(clf, schema=Schema.infer(data["X"], clf.predict(data["X"][:5])))

then ``lamina serve FLOW`` (or ``--variant a=REF:80 --variant b=REF:20``), and
``lamina ab report DEPLOYMENT`` once outcomes are logged. See docs/serving.md.
"""

from __future__ import annotations

from lamina._lazy import lazy_exports

_EXPORTS = {
    "Model": "lamina.serving.model",
    "resolve_model": "lamina.serving.model",
    "load_artifact": "lamina.serving.model",
    "LoadedModel": "lamina.serving.model",
    "Schema": "lamina.serving.schema",
    "Field": "lamina.serving.schema",
    "Deployment": "lamina.serving.spec",
    "Variant": "lamina.serving.spec",
    "Batching": "lamina.serving.spec",
    "load_spec": "lamina.serving.spec",
    "deployment_from_options": "lamina.serving.spec",
    "deploy": "lamina.serving.deployment",
    "deploy_from_file": "lamina.serving.deployment",
    "serve": "lamina.serving.server",
    "ServerLimits": "lamina.serving.options",
    "build_app": "lamina.serving.server",
    "read_prediction_log": "lamina.serving.prediction_log",
    "read_outcomes": "lamina.serving.prediction_log",
    "log_outcomes": "lamina.serving.prediction_log",
    "ab_report": "lamina.serving.ab",
    "ABReport": "lamina.serving.ab",
    "Experiment": "lamina.serving.experiment",
    "MetricSpec": "lamina.serving.experiment",
    "Covariate": "lamina.serving.experiment",
    "ServingError": "lamina.serving.errors",
    "PayloadError": "lamina.serving.errors",
    "SchemaError": "lamina.serving.errors",
    "ModelRefError": "lamina.serving.errors",
    "ModelNotServableError": "lamina.serving.errors",
    "DeploymentError": "lamina.serving.errors",
    "PortInUseError": "lamina.serving.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

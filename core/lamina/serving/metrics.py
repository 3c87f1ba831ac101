"""Prometheus metrics of a model server: requests and latency per deployment, variant and
status, on ``/metrics``. Each server has its own registry (no process-global state)."""

from __future__ import annotations

from typing import Any

#: Latency buckets in seconds, finer than the client default at the low end where a fast
#: model answers.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """Counters and histograms of one deployment."""

    content_type: str

    def __init__(self, deployment: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        self.content_type = CONTENT_TYPE_LATEST
        self.deployment = deployment
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lamina_requests", "Inference requests answered, by variant and HTTP status.",
            ["deployment", "variant", "status"], registry=self.registry,
        )
        self.rows = Counter(
            "lamina_prediction_rows", "Prediction rows (a request may carry several).",
            ["deployment", "variant"], registry=self.registry,
        )
        self.latency = Histogram(
            "lamina_request_latency_seconds", "Time to answer an inference request.",
            ["deployment", "variant"], buckets=BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "lamina_batch_size", "Requests stacked into one predict call (adaptive batching).",
            ["deployment", "variant"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def observe(self, variant: str, status: int, seconds: float, rows: int) -> None:
        key = (variant, status)
        child = self._children.get(key)
        if child is None:
            child = (
                self.requests.labels(self.deployment, variant, str(status)),
                self.latency.labels(self.deployment, variant),
                self.rows.labels(self.deployment, variant),
            )
            self._children[key] = child
        child[0].inc()
        child[1].observe(seconds)
        if rows:
            child[2].inc(rows)

    def observe_batch(self, variant: str, size: int) -> None:
        """One predict call of ``size`` batched requests."""
        self.batch_size.labels(self.deployment, variant).observe(size)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

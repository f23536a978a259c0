"""contrail's series on BentoML's `/metrics`: what the model predicts and what is refused.

Beside BentoML's request series: the distribution of predicted probabilities and the flights
predicted, by model version, the model's training positive rate to compare them with, and
rejected requests by reason. `deploy/monitoring/` holds the alert rules and the Grafana
dashboard built on them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

# Upper bounds of the probability histogram's buckets (prometheus_client adds +Inf).
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
# The `reason` label of contrail_rejected_requests_total, by the status a rejection answers.
REJECTION_REASONS = {
    400: "invalid_json",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "schema",
}


@dataclass(frozen=True)
class ServiceMetrics:
    """contrail's series on BentoML's /metrics: what the model predicts and what is refused."""

    probability: Histogram
    predictions: Counter
    train_positive_rate: Gauge
    rejected: Counter


@functools.cache
def service_metrics() -> ServiceMetrics:
    """The metrics, created once per process, by the worker's service instance.

    prometheus_client picks its storage when first imported: with PROMETHEUS_MULTIPROC_DIR set,
    as in a BentoML worker, files that BentoML's /metrics sums over the workers (counts survive
    a worker restart). BentoML's advice (bentoml/metrics.py, a deprecated lazy alias of
    prometheus_client) is to import it only then, not at module import, which `bentoml serve`
    and `bentoml build` also do in processes that serve nothing.
    """
    from prometheus_client import Counter, Gauge, Histogram

    rejected = Counter(
        "contrail_rejected_requests_total",
        "POST /predict requests answered with a 4xx before the model, by reason",
        ["reason"],
    )
    for reason in REJECTION_REASONS.values():
        # Exported at 0 from the start: rate() and increase() then see the first rejection.
        rejected.labels(reason=reason)
    return ServiceMetrics(
        probability=Histogram(
            "contrail_prediction_probability",
            "Predicted delay probability, one observation per flight",
            ["model_version"],
            buckets=PROBABILITY_BUCKETS,
        ),
        predictions=Counter(
            "contrail_predictions_total", "Flights predicted (not requests)", ["model_version"]
        ),
        # Every worker sets the same value: "max" exports it once, without a pid label.
        train_positive_rate=Gauge(
            "contrail_model_train_positive_rate",
            "Share of delayed flights in the model's training window: the mean probability "
            "a calibrated model predicts on traffic like it",
            ["model_version"],
            multiprocess_mode="max",
        ),
        rejected=rejected,
    )


def count_rejection(status: int) -> None:
    """One more request refused with `status`, under its reason."""
    service_metrics().rejected.labels(reason=REJECTION_REASONS[status]).inc()


class ModelMetrics:
    """The served model's series, labelled with its version once, at start."""

    def __init__(self, version: str, train_positive_rate: float) -> None:
        metrics = service_metrics()
        self._probability = metrics.probability.labels(model_version=version)
        self._predictions = metrics.predictions.labels(model_version=version)
        metrics.train_positive_rate.labels(model_version=version).set(train_positive_rate)
        self._bounds = np.array(PROBABILITY_BUCKETS)

    def observe(self, probability: np.ndarray) -> None:
        """`Histogram.observe` for every flight, at the cost of one increment per bucket.

        Observing flight by flight takes ~3 ms per 1,000 flights (two locked writes to the
        shared file each); counting per bucket with numpy takes ~0.06 ms. The bucket and sum
        values are the histogram's private attributes, incremented as `observe` does;
        tests/serving/test_telemetry.py checks the exported buckets against responses.
        """
        # Bucket i holds bounds[i-1] < p <= bounds[i], the last one (+Inf) p > bounds[-1].
        counts = np.bincount(
            np.searchsorted(self._bounds, probability), minlength=len(self._bounds) + 1
        )
        buckets = self._probability._buckets
        for index in np.flatnonzero(counts).tolist():
            buckets[index].inc(int(counts[index]))
        self._probability._sum.inc(float(probability.sum()))
        self._predictions.inc(len(probability))

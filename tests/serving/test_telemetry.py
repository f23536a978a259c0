"""contrail's series on the running service's /metrics: what alerts.yaml and the dashboard query
exists, and the values follow the requests. Every value is a difference between two scrapes (the
session's service also serves the other tests), summed over BentoML's workers however many."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.serving import REPO, as_flights

from contrail.serving.api_contract import MAX_BODY_BYTES

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server) -> Samples:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def increase(before: Samples, after: Samples, name: str, **labels: str) -> dict[str, float]:
    """How much each series of `name` with `labels` rose, keyed by its `le` or `reason` label
    (or "" when it has neither)."""
    wanted = set(labels.items())
    return {
        dict(key).get("le", dict(key).get("reason", "")): value - before.get((series, key), 0.0)
        for (series, key), value in after.items()
        if series == name and wanted <= key
    }


def monitoring_metric_names() -> set[str]:
    path = REPO / "deploy" / "monitoring" / "check.py"
    spec = importlib.util.spec_from_file_location("monitoring_check_for_serving", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pydantic look their module up there
    spec.loader.exec_module(module)
    report = module.check()
    assert report.problems == []
    return set(report.metrics)


@pytest.fixture(scope="module")
def flights(raw_test, trained_model) -> list[dict]:
    return as_flights(raw_test.head(60), trained_model.card.features)


def predict(server, flights: list[dict]) -> list[dict]:
    response = server.post(json.dumps({"flights": flights}))
    assert response.status_code == 200
    return response.json()["predictions"]


def test_metrics_exports_every_series_the_alerts_and_dashboard_query(server, flights):
    predict(server, flights[:1])
    exported = {name for name, _ in scrape(server)}
    assert monitoring_metric_names() - exported == set()


def test_each_flight_is_one_observation_in_its_probability_bucket(server, flights, packaged_model):
    version = packaged_model.split(":")[1]
    before = scrape(server)
    # One batch and single-flight requests: the histogram counts flights, not requests.
    predictions = predict(server, flights[:50]) + [
        p for flight in flights[50:] for p in predict(server, [flight])
    ]
    after = scrape(server)
    assert {p["model_version"] for p in predictions} == {version}
    probabilities = [p["probability"] for p in predictions]

    buckets = increase(
        before, after, "contrail_prediction_probability_bucket", model_version=version
    )
    assert sorted(map(float, buckets)) == [i / 20 for i in range(1, 21)] + [math.inf]
    assert buckets == {le: sum(p <= float(le) for p in probabilities) for le in buckets}
    assert len(set(buckets.values())) > 3, "the flights fall in a few different buckets"
    assert increase(
        before, after, "contrail_prediction_probability_count", model_version=version
    ) == {"": 60}
    (total,) = increase(
        before, after, "contrail_prediction_probability_sum", model_version=version
    ).values()
    assert total == pytest.approx(sum(probabilities), abs=1e-9)
    assert increase(before, after, "contrail_predictions_total", model_version=version) == {"": 60}


def test_the_training_positive_rate_is_exported_for_the_served_version(
    server, packaged_model, trained_model
):
    version = packaged_model.split(":")[1]
    rate = scrape(server)[
        ("contrail_model_train_positive_rate", frozenset({("model_version", version)}))
    ]
    assert rate == pytest.approx(trained_model.card.train_positive_rate, rel=1e-12)


def test_each_rejected_request_counts_once_under_its_reason(server, flights):
    before = scrape(server)
    bad_requests = [
        ("invalid_json", server.post('{"flights": [')),
        ("body_too_large", server.post(b" " * (MAX_BODY_BYTES + 1))),
        ("unsupported_media_type", server.post(json.dumps({"flights": flights[:1]}), "text/plain")),
        ("schema", server.post(json.dumps({"flights": []}))),
        ("schema", server.post(json.dumps({"flights": [{**flights[0], "origin": "BOS"}]}))),
    ]
    after = scrape(server)
    statuses = {
        "invalid_json": 400,
        "body_too_large": 413,
        "unsupported_media_type": 415,
        "schema": 422,
    }
    assert [(reason, response.status_code) for reason, response in bad_requests] == [
        (reason, statuses[reason]) for reason, _ in bad_requests
    ]
    # Every reason is exported before its first rejection (at 0), so rate() sees that one.
    assert {
        dict(key)["reason"] for name, key in before if name == "contrail_rejected_requests_total"
    } == set(statuses)
    expected = Counter(reason for reason, _ in bad_requests)
    assert increase(before, after, "contrail_rejected_requests_total") == expected
    assert set(increase(before, after, "contrail_predictions_total").values()) == {0}

"""Behaviour of the trained model: invariance, direction, quality, and a safe file format."""

import numpy as np
import pytest
import sklearn

from contrail.features import LABEL, build_features
from contrail.metrics import DelayRateBaseline
from contrail.model import TrainedModel, fit
from contrail.model_card import PIPELINE_FILE


@pytest.fixture(scope="module")
def test_raw(window_and_current, params):
    window, _ = window_and_current
    return window[window["month"] == int(params.data.end[5:])].reset_index(drop=True)


def predict_raw(model: TrainedModel, raw) -> np.ndarray:
    return model.predict_proba(build_features(raw, model.card.features))


@pytest.mark.parametrize(
    ("column", "value"), [("flight", 1), ("tailnum", "N00000"), ("dep_delay", 600.0)]
)
def test_identifiers_and_leakage_do_not_change_predictions(trained_model, test_raw, column, value):
    changed = test_raw.assign(**{column: value})
    np.testing.assert_array_equal(
        predict_raw(trained_model, test_raw), predict_raw(trained_model, changed)
    )


@pytest.mark.parametrize(("column", "value"), [("precip", 0.5), ("visib", 0.25)])
def test_bad_weather_does_not_lower_delay_risk(trained_model, test_raw, column, value):
    clear = test_raw.assign(precip=0.0, visib=10.0)
    stormy = clear.assign(**{column: value})
    assert predict_raw(trained_model, stormy).mean() >= predict_raw(trained_model, clear).mean()


def test_model_beats_the_carrier_hour_baseline(trained_model, feature_tables):
    from sklearn.metrics import roc_auc_score

    train, test = feature_tables["train"], feature_tables["test"]
    baseline = DelayRateBaseline().fit(
        train["meta_carrier"], train["meta_hour"], train[LABEL].to_numpy(dtype=int)
    )
    y = test[LABEL].to_numpy(dtype=int)
    model_auc = roc_auc_score(y, trained_model.predict_proba(test))
    baseline_auc = roc_auc_score(y, baseline.predict_proba(test["meta_carrier"], test["meta_hour"]))
    assert model_auc > baseline_auc + 0.02


def test_prevalence_threshold_flags_the_training_delay_rate(trained_model, feature_tables):
    train = feature_tables["train"]
    flagged = (trained_model.predict_proba(train) >= trained_model.card.threshold).mean()
    assert flagged == pytest.approx(train[LABEL].mean(), abs=0.01)


def test_unknown_category_still_gets_a_probability(trained_model, feature_tables):
    rows = feature_tables["test"].head(3).assign(carrier="ZZ", dest="XYZ")
    p = trained_model.predict_proba(rows)
    assert np.all((p > 0) & (p < 1))


def test_saved_model_round_trips_and_refuses_other_sklearn(trained_model, feature_tables, tmp_path):
    trained_model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    test = feature_tables["test"]
    np.testing.assert_array_equal(loaded.predict_proba(test), trained_model.predict_proba(test))
    card = (tmp_path / "model.json").read_text()
    (tmp_path / "model.json").write_text(card.replace(sklearn.__version__, "0.0.1"))
    with pytest.raises(RuntimeError, match=r"trained with scikit-learn 0\.0\.1"):
        TrainedModel.load(tmp_path)


def test_the_saved_model_does_not_depend_on_the_thread_count(feature_tables, params, tmp_path):
    """dvc.lock records the model's md5: the trees are the same with any thread count, and
    the one place scikit-learn records the count is reset."""
    for threads in (1, 2):
        fit(feature_tables["train"], params, threads=threads).save(tmp_path / str(threads))
    one, two = ((tmp_path / t / PIPELINE_FILE).read_bytes() for t in ("1", "2"))
    assert one == two


def test_permutation_importance_is_scikit_learns_on_the_raw_features(trained_model, feature_tables):
    """Shuffled after the encoder and in threads, it must still be the textbook number."""
    from sklearn.inspection import permutation_importance

    sample = feature_tables["test"].sample(600, random_state=3)
    y = sample[LABEL].to_numpy(dtype=int)
    expected = permutation_importance(
        trained_model.pipeline,
        sample[trained_model.card.features],
        y,
        scoring="roc_auc",
        n_repeats=2,
        random_state=11,
    )

    importance = trained_model.permutation_importance(sample, y, repeats=2, seed=11)

    assert list(importance) == trained_model.card.features
    np.testing.assert_array_equal(list(importance.values()), expected.importances_mean)

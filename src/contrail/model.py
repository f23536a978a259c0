"""The model: a scikit-learn Pipeline plus the facts needed to use it correctly.

The bundle saved under models/ carries the feature list, the decision threshold and the
scikit-learn version, so whoever loads it (evaluation, the service) cannot pair it with the
wrong columns or threshold.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from contrail.cpus import usable_cpus
from contrail.features import LABEL
from contrail.io import atomic_path
from contrail.model_card import CARD_FILE, PIPELINE_FILE, ModelCard, installed_sklearn
from contrail.params import FeatureParams, Params, ThresholdParams, TrainParams

# OpenMP threads for the fit, whatever the machine: on 2 cores (133,603 rows, `make
# bench-threads`) one thread takes 5.3 s idle and 5.2 s beside a busy process; two spinning
# threads (scikit-learn's default) 3.3 s idle but 65 s beside it, two sleeping ones 10.6 s and
# 6.2 s. The fit's thousands of short parallel regions pay for every wait or wake-up.
FIT_THREADS = 1


def build_pipeline(features: FeatureParams, train: TrainParams, seed: int) -> Pipeline:
    """Ordinal-encode categoricals, then gradient boosting with native categorical splits.

    Unknown and missing categories encode to NaN, which the trees treat as "missing", so a
    new carrier or airport still gets a prediction.
    """
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                list(features.categorical),
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    classifier = HistGradientBoostingClassifier(
        learning_rate=train.learning_rate,
        max_iter=train.max_iter,
        max_leaf_nodes=train.max_leaf_nodes,
        min_samples_leaf=train.min_samples_leaf,
        l2_regularization=train.l2_regularization,
        early_stopping=train.early_stopping,
        categorical_features=[i < len(features.categorical) for i in range(len(features.columns))],
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("classify", classifier)])


def choose_threshold(policy: ThresholdParams, y_train: np.ndarray, p_train: np.ndarray) -> float:
    """Decision threshold from the training data only (never from the test month)."""
    if policy.policy == "fixed":
        return policy.value
    # Flag as many flights as were delayed in training: robust to how well-calibrated the
    # probabilities are, and no tuning on held-out data.
    return float(np.quantile(p_train, 1 - float(np.mean(y_train))))


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    card: ModelCard

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        probabilities: np.ndarray = self.pipeline.predict_proba(features[self.card.features])
        return probabilities[:, 1]

    def permutation_importance(
        self, features: pd.DataFrame, y: np.ndarray, repeats: int, seed: int
    ) -> dict[str, float]:
        """Mean ROC AUC drop when each feature is shuffled: scikit-learn's permutation importance.

        The columns are shuffled after the encoder, which encodes each column on its own, so the
        predictions and the numbers are the same as shuffling the inputs, without re-encoding a
        table per shuffle; the shuffles run in one thread per usable CPU (prediction releases
        the GIL). About 1.5 s instead of 3 s for 5,000 rows, 3 repeats, on 2 cores.
        """
        encode, classify = self.pipeline[:-1], self.pipeline[-1]
        with parallel_config(backend="threading"):
            result = permutation_importance(
                classify,
                encode.transform(features[self.card.features]),
                y,
                scoring="roc_auc",
                n_repeats=repeats,
                random_state=seed,
                n_jobs=usable_cpus(),
            )
        encoded_names = list(encode.get_feature_names_out())
        return {
            name: float(result.importances_mean[encoded_names.index(name)])
            for name in self.card.features
        }

    def save(self, directory: Path) -> None:
        """Both files replaced only once both are written: a crash keeps the last good pair."""
        with (
            atomic_path(directory / PIPELINE_FILE) as pipeline_tmp,
            atomic_path(directory / CARD_FILE) as card_tmp,
        ):
            joblib.dump(self.pipeline, pipeline_tmp)
            card_tmp.write_text(json.dumps(asdict(self.card), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        card = ModelCard(**json.loads((directory / CARD_FILE).read_text()))
        card.require_same_sklearn(str(directory))
        return cls(joblib.load(directory / PIPELINE_FILE), card)


def fit(data: pd.DataFrame, params: Params, threads: int | None = FIT_THREADS) -> TrainedModel:
    """Fit the pipeline on a labelled feature table and write its card.

    `threads`: OpenMP threads for the fit; None leaves the process's count (under the
    `contrail` command, one per usable CPU: `contrail.cpus`)."""
    y = data[LABEL].to_numpy(dtype=int)
    columns = params.features.columns
    pipeline = build_pipeline(params.features, params.train, params.seed)
    with threadpool_limits(limits=threads, user_api="openmp"):
        pipeline.fit(data[columns], y)
    # The trees and their predictions are the same bit for bit whatever the thread count, but
    # the classifier's binner keeps the count it ran with. Back to its default (None: decided
    # when used), the pickle and dvc.lock's md5 never depend on it.
    pipeline[-1]._bin_mapper.n_threads = None
    card = ModelCard(
        features=columns,
        threshold=choose_threshold(
            params.threshold, y, pipeline.predict_proba(data[columns])[:, 1]
        ),
        sklearn_version=installed_sklearn(),
        train_start=params.data.start,
        train_end=params.data.last_train_month,
        train_rows=len(data),
        train_positive_rate=float(y.mean()),
    )
    return TrainedModel(pipeline, card)

"""The trained pipeline for request-sized inputs, without pandas or ColumnTransformers.

Profile of one flight through `TrainedModel.predict_proba(build_features(frame))` on 2 cores:
about 3 ms building features in pandas, 3 ms in the pipeline's ColumnTransformer, 3.4 ms in
the classifier's own internal ColumnTransformer and 2-3.5 ms calling 300 tree predictors one
by one. This module keeps the model and the feature definitions and drops the overhead:

- features: each feature's own `compute` from `contrail.features`, applied to numpy columns;
  only the two kinds numpy cannot run as written (pandas string dtype, `pd.to_datetime`) have
  a numpy twin here.
- encoding: the category -> code tables are read from the fitted encoders and composed once.
- trees: small batches walk all trees at once, level by level, in numpy (about 0.3 ms for one
  flight); larger batches call scikit-learn's compiled tree predictors one by one, as
  `predict_proba` does, minus its 3 ms per call of re-encoding.

`tests/serving/test_fast.py` proves every feature and the probabilities equal to the
pipeline's, and `CompiledModel.verify` repeats the probability check at service start-up, so
a scikit-learn change that alters the internals used here makes the service predict with the
pipeline itself (`predictor.py`) instead of skewing its predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit

from contrail.features import FEATURES, build_features, required_inputs
from contrail.model import TrainedModel

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

Columns = Mapping[str, np.ndarray]
# Above this many rows one call per tree (compiled) beats walking every tree at once.
SMALL_BATCH = 8
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; pandas counts Monday as 0


def _day_of_week(columns: Columns) -> np.ndarray:
    months = (columns["year"] - 1970) * 12 + (columns["month"] - 1)
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (columns["day"] - 1)
    weekday: np.ndarray = ((days.astype(np.int64) + _EPOCH_WEEKDAY) % 7).astype(np.float64)
    return weekday


# Features whose definition uses pandas-only calls; everything else runs its own compute.
_NUMPY_TWINS: dict[str, Callable[[Columns], np.ndarray]] = {"day_of_week": _day_of_week}


def compute_features(columns: Columns, names: list[str]) -> dict[str, np.ndarray]:
    """The same values as `build_features`, as numpy arrays (categoricals as object arrays)."""
    features = {}
    for name in names:
        feature = FEATURES[name]
        if name in _NUMPY_TWINS:
            features[name] = _NUMPY_TWINS[name](columns)
        elif feature.kind == "categorical":
            (source,) = feature.inputs
            features[name] = np.asarray(columns[source], dtype=object)
        else:
            # Declared for a DataFrame, but the definitions only look up columns and apply
            # elementwise operations, which numpy columns support (test_fast.py proves equal).
            compute = cast(Callable[[Columns], npt.ArrayLike], feature.compute)
            features[name] = np.asarray(compute(columns), dtype=np.float64)
    return features


@dataclass(frozen=True)
class _Forest:
    """All trees as (tree, node) arrays; leaves point to themselves so every walk has equal length."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    categorical: np.ndarray
    category_left: np.ndarray  # (node, code) -> goes left, for categorical splits
    value: np.ndarray
    offsets: np.ndarray
    depth: int
    baseline: float

    @classmethod
    def from_classifier(cls, classifier: HistGradientBoostingClassifier) -> _Forest:
        predictors = [iteration[0] for iteration in classifier._predictors]
        known, feature_to_bitset = classifier._bin_mapper.make_known_categories_bitsets()
        width = max(len(p.nodes) for p in predictors)
        shape = (len(predictors), width)
        feature = np.zeros(shape, np.intp)
        threshold = np.full(shape, np.inf)
        left = np.tile(np.arange(width), (len(predictors), 1))
        right = left.copy()
        missing_left = np.ones(shape, bool)
        categorical = np.zeros(shape, bool)
        category_left = np.zeros((*shape, 256), bool)
        value = np.zeros(shape)
        codes = np.arange(256)

        def in_bitset(bitset: np.ndarray) -> np.ndarray:
            bits: np.ndarray = (bitset[codes // 32] >> (codes % 32).astype(np.uint32)) & 1 == 1
            return bits

        for t, predictor in enumerate(predictors):
            nodes = predictor.nodes
            split = np.flatnonzero(nodes["is_leaf"] == 0)
            feature[t, split] = nodes["feature_idx"][split]
            threshold[t, split] = nodes["num_threshold"][split]
            left[t, split] = nodes["left"][split]
            right[t, split] = nodes["right"][split]
            missing_left[t, split] = nodes["missing_go_to_left"][split] == 1
            value[t, : len(nodes)] = nodes["value"]
            for node in split[nodes["is_categorical"][split] == 1]:
                categorical[t, node] = True
                goes_left = in_bitset(predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]])
                known_code = in_bitset(known[feature_to_bitset[nodes["feature_idx"][node]]])
                # Unknown codes follow the missing-value branch, as scikit-learn does.
                category_left[t, node] = goes_left | (~known_code & missing_left[t, node])
        return cls(
            feature=feature.ravel(),
            threshold=threshold.ravel(),
            left=left.ravel(),
            right=right.ravel(),
            missing_left=missing_left.ravel(),
            categorical=categorical.ravel(),
            category_left=category_left.reshape(-1, 256),
            value=value.ravel(),
            offsets=np.arange(len(predictors)) * width,
            depth=max(int(p.nodes["depth"].max()) for p in predictors),
            baseline=float(np.ravel(classifier._baseline_prediction)[0]),
        )

    def raw_predict(self, x: np.ndarray) -> np.ndarray:
        rows = np.arange(len(x))[:, None]
        index = np.broadcast_to(self.offsets, (len(x), len(self.offsets)))
        for _ in range(self.depth):
            values = x[rows, self.feature[index]]
            missing = np.isnan(values)
            go_left = values <= self.threshold[index]
            categorical = self.categorical[index]
            if categorical.any():
                codes = np.where(categorical & ~missing, values, 0).astype(np.intp)
                go_left = np.where(categorical, self.category_left[index, codes], go_left)
            go_left = np.where(missing, self.missing_left[index], go_left)
            index = np.where(go_left, self.left[index], self.right[index]) + self.offsets
        raw: np.ndarray = self.value[index].sum(axis=1) + self.baseline
        return raw


class CompiledModel:
    """Probabilities and unseen-category flags for raw request columns."""

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self.features = list(model.card.features)
        self.inputs = required_inputs(self.features)
        encode, self.classifier = model.pipeline[0], model.pipeline[-1]
        self.columns = list(encode.get_feature_names_out())
        encoder = encode.named_transformers_["categorical"]
        self.categories = {
            name: {category: float(code) for code, category in enumerate(categories)}
            for name, categories in zip(encoder.feature_names_in_, encoder.categories_, strict=True)
        }
        # The classifier re-encodes the pipeline's codes internally; compose both steps once.
        categorical = np.flatnonzero(self.classifier.is_categorical_)
        self.inner_order = np.r_[categorical, np.flatnonzero(~self.classifier.is_categorical_)]
        self.inner_codes = self._inner_code_tables(categorical)
        self.forest = _Forest.from_classifier(self.classifier)
        self.trees = [iteration[0] for iteration in self.classifier._predictors]
        self.known_categories = self.classifier._bin_mapper.make_known_categories_bitsets()

    def _inner_code_tables(self, categorical: np.ndarray) -> dict[int, np.ndarray]:
        longest = max(len(c) for c in self.categories.values())
        probe = np.zeros((longest, len(self.columns)))
        for column in categorical:
            known = len(self.categories[self.columns[column]])
            probe[:, column] = np.minimum(np.arange(longest), known - 1)
        inner = self.classifier._preprocessor.transform(probe)
        return {
            int(column): inner[: len(self.categories[self.columns[column]]), position]
            for position, column in enumerate(categorical)
        }

    def features_for(self, columns: Columns) -> dict[str, np.ndarray]:
        return compute_features(columns, self.features)

    def encode(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The pipeline's encoded matrix, and per row which categorical values were unseen."""
        rows = len(features[self.features[0]])
        matrix = np.empty((rows, len(self.columns)))
        unseen = np.zeros((rows, len(self.categories)), bool)
        for position, name in enumerate(self.columns):
            if name in self.categories:
                table = self.categories[name]
                codes = np.array([table.get(value, np.nan) for value in features[name]])
                unseen[:, list(self.categories).index(name)] = np.isnan(codes)
                matrix[:, position] = codes
            else:
                matrix[:, position] = features[name]
        return matrix, unseen

    def _inner(self, matrix: np.ndarray) -> np.ndarray:
        inner = matrix[:, self.inner_order]
        for position, column in enumerate(self.inner_order):
            if int(column) in self.inner_codes:
                codes = inner[:, position]
                known = ~np.isnan(codes)
                codes[known] = self.inner_codes[int(column)][codes[known].astype(np.intp)]
        return inner

    def predict(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """P(delayed) per row, and per row a flag for each unseen categorical field."""
        matrix, unseen = self.encode(features)
        inner = self._inner(matrix)
        if len(matrix) <= SMALL_BATCH:
            raw = self.forest.raw_predict(inner)
        else:
            raw = np.full(len(inner), self.forest.baseline)
            for tree in self.trees:
                raw += tree.predict(inner, *self.known_categories, n_threads=1)
        return expit(raw), unseen

    def unseen_names(self, unseen_row: np.ndarray) -> list[str]:
        return [name for name, flag in zip(self.categories, unseen_row, strict=True) if flag]

    def verify(self, raw: pd.DataFrame, tolerance: float = 1e-9) -> None:
        """Raise unless this path gives the pipeline's probabilities on `raw` (small and large)."""
        reference = self.model.predict_proba(build_features(raw, self.features))
        columns = {name: raw[name].to_numpy() for name in self.inputs}
        for size in (1, SMALL_BATCH, len(raw)):
            subset = {name: values[:size] for name, values in columns.items()}
            got, _ = self.predict(self.features_for(subset))
            worst = float(np.max(np.abs(got - reference[:size])))
            if not worst <= tolerance:
                raise RuntimeError(
                    f"fast prediction path differs from the pipeline by {worst:.3g} on "
                    f"{size} row(s): scikit-learn internals changed; fix contrail/serving/fast.py"
                )

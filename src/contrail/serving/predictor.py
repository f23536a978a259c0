"""The one seam between the service and the model, so that any scikit-learn classifier serves.

The service only asks a `Predictor` for features, probabilities and the names of unseen
categories. `choose_predictor` picks, once per worker at start-up:

- the compiled path (`fast.py`, about 10x faster for one flight) for a Pipeline ending in
  HistGradientBoostingClassifier whose compiled probabilities `CompiledModel.verify` finds
  equal to the pipeline's on the flights stored with the model;
- otherwise the fitted pipeline itself, with one WARNING line saying why. A fork with another
  estimator, or a scikit-learn release whose tree internals moved, is served correctly and
  only slower, instead of refusing to start or predicting from misread trees.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from contrail.features import build_features
from contrail.model import TrainedModel
from contrail.serving.fast import Columns, CompiledModel

log = logging.getLogger("contrail.serving")


class Predictor(Protocol):
    def features_for(self, columns: Columns) -> Any:
        """The model's inputs for raw request columns, in whatever form `predict` takes."""
        ...

    def predict(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        """P(delayed) per row, and per row a flag for each categorical field it never saw."""
        ...

    def unseen_names(self, unseen_row: np.ndarray) -> list[str]:
        """The fields flagged in one row of `predict`'s unseen flags."""
        ...


def _fitted_categories(step: Any) -> dict[str, np.ndarray]:
    """Categories each fitted OrdinalEncoder in the pipeline learned, by the column it encodes."""
    if isinstance(step, OrdinalEncoder):
        return dict(zip(getattr(step, "feature_names_in_", []), step.categories_, strict=False))
    if isinstance(step, Pipeline):
        children = [child for _, child in step.steps]
    elif isinstance(step, ColumnTransformer):
        children = [child for _, child, _ in step.transformers_]
    else:
        return {}
    return {name: known for child in children for name, known in _fitted_categories(child).items()}


class PipelinePredictor:
    """The fitted pipeline as trained: any estimator, at pandas speed (a few ms per request).

    Unseen categories are those outside the pipeline's OrdinalEncoder categories; a pipeline
    without one flags none.
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self.features = list(model.card.features)
        known = _fitted_categories(model.pipeline)
        self.categories = {name: known[name] for name in self.features if name in known}

    def features_for(self, columns: Columns) -> pd.DataFrame:
        return build_features(pd.DataFrame(columns), self.features)

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        unseen = np.zeros((len(features), len(self.categories)), bool)
        for position, (name, known) in enumerate(self.categories.items()):
            unseen[:, position] = ~features[name].isin(known).to_numpy(dtype=bool)
        return self.model.predict_proba(features), unseen

    def unseen_names(self, unseen_row: np.ndarray) -> list[str]:
        return [name for name, flag in zip(self.categories, unseen_row, strict=True) if flag]


def choose_predictor(model: TrainedModel, sample: pd.DataFrame) -> Predictor:
    """The compiled path when it applies and matches the pipeline on the raw `sample`."""
    pipeline = model.pipeline
    if isinstance(pipeline, Pipeline) and isinstance(pipeline[-1], HistGradientBoostingClassifier):
        try:
            compiled = CompiledModel(model)
            compiled.verify(sample)
            return compiled
        # Whatever fails (missing internals, another layout, a mismatch), the pipeline is right.
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
    else:
        kind = (
            f"Pipeline ending in {type(pipeline[-1]).__name__}"
            if isinstance(pipeline, Pipeline)
            else type(pipeline).__name__
        )
        reason = (
            f"it needs a Pipeline ending in HistGradientBoostingClassifier, the model is a {kind}"
        )
    log.warning(
        "predicting with the scikit-learn pipeline, not the compiled fast path (slower): %s",
        " ".join(reason.split()),
    )
    return PipelinePredictor(model)

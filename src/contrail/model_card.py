"""What a saved model is, without loading it: the card beside the pipeline.

Apart from `contrail.model` so that reading a card needs neither scikit-learn nor pandas: the
service's main process builds its request schema from the card and checks the version, and only
its workers import scikit-learn to load the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

# The two files of a saved model, inside its directory.
PIPELINE_FILE = "model.joblib"
CARD_FILE = "model.json"


def installed_sklearn() -> str:
    """This environment's scikit-learn version, from its package metadata: no import needed."""
    return version("scikit-learn")


class IncompatibleModel(RuntimeError):
    """The model was pickled by another scikit-learn version: loading it is not safe."""


@dataclass(frozen=True)
class ModelCard:
    features: list[str]
    threshold: float
    sklearn_version: str
    train_start: str
    train_end: str
    train_rows: int
    train_positive_rate: float

    def require_same_sklearn(self, source: str) -> None:
        """Refuse a model pickled by another scikit-learn: it may load and predict wrongly."""
        installed = installed_sklearn()
        if self.sklearn_version != installed:
            raise IncompatibleModel(
                f"{source} was trained with scikit-learn {self.sklearn_version}, this "
                f"environment has {installed}: retrain it or pin "
                f"scikit-learn=={self.sklearn_version}"
            )

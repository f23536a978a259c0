"""The model to serve, as the BentoML store holds it: its tag, its files, its card checked at import.

`CONTRAIL_MODEL_TAG` picks a stored version (default: the latest `flight-delay`). BentoML is
imported where a stored model is read: `contrail package` and the monitor import the file
names without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from contrail.identity import MODEL_NAME
from contrail.model_card import CARD_FILE, IncompatibleModel, ModelCard

MODEL_TAG = os.environ.get("CONTRAIL_MODEL_TAG") or f"{MODEL_NAME}:latest"
# Stored beside the model's own files. A few real flights: the service checks its fast path on
# them at start. JSON, not Parquet: the image then needs no pyarrow (163 MB).
VERIFICATION_FILE = "verification.json"
# Test-month flights with the pipeline's own probabilities: `contrail smoke` replays them.
GOLDENS_FILE = "goldens.json"


def stored_card(tag: str) -> ModelCard:
    """The stored model's card, read at import: its features shape the request schema.

    A model trained with another scikit-learn is refused here. Raised at import, this ends
    `bentoml serve` (and a container) with the message; raised in a worker, BentoML would
    restart that worker forever and never become ready.
    """
    import bentoml

    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise RuntimeError(
            f"no model {tag} in the BentoML store: run `contrail package` or `make serve`"
        ) from None
    card = ModelCard(**json.loads((Path(stored.path) / CARD_FILE).read_text()))
    try:
        card.require_same_sklearn(str(stored.tag))
    except IncompatibleModel as exc:
        raise RuntimeError(f"refusing to serve: {exc}") from None
    return card

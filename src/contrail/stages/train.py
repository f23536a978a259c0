"""`contrail train`: fit the model on the training months and save it with its card."""

from __future__ import annotations

from contrail import paths
from contrail.io import read_parquet
from contrail.model import fit
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    train = read_parquet(paths.TRAIN)
    what = f"fit on {len(train):,} rows"
    # The longest step: a line as it starts, so a fit slowed by a busy machine or a bigger
    # source does not look like a hang (its time follows when it ends).
    log.info("  %s ...", what)
    with step(what):
        model = fit(train, params)
    model.save(paths.MODEL_DIR)
    log.info("  threshold %.3f (%s policy)", model.card.threshold, params.threshold.policy)

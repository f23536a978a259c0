"""Put the pipeline's model into the BentoML model store, with its provenance, and build a Bento.

The store entry is tagged `flight-delay:<first 16 hex of the model file's md5>`: the same
bytes always get the same tag (importing twice is a no-op) and the tag can be matched to the
md5 `dvc.lock` records for `models/model.joblib`. A model file that does not match `dvc.lock`
is refused: it is not the pipeline's output, so its metrics and commit would be wrong.

Beside the model travel `verification.json` (real flights the service checks its fast path
on at start-up) and `goldens.json`: a few flights of the test month as API requests, with the
probabilities the pipeline computes for them offline. The service serves that file at
`GET /goldens`, and `contrail smoke` checks that the deployed service answers the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import yaml

from contrail import months, paths
from contrail.data import sources
from contrail.features import build_features, required_inputs
from contrail.identity import MODEL_NAME, model_version
from contrail.model import TrainedModel
from contrail.model_card import CARD_FILE, PIPELINE_FILE
from contrail.serving.model_store import GOLDENS_FILE, VERIFICATION_FILE
from contrail.transports import git
from contrail.transports.git import GitError

MODEL_FILES = (PIPELINE_FILE, CARD_FILE)
VERIFICATION_ROWS = 64
GOLDEN_ROWS = 20
GOLDENS_FORMAT = 1
# Everything a stored model must hold for the service and `contrail smoke`.
STORED_FILES = (*MODEL_FILES, VERIFICATION_FILE, GOLDENS_FILE)


class PackagingError(RuntimeError):
    """The model cannot be packaged; the message says what to run first."""


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_lock_md5(lock_path: Path, model_file: str = str(paths.MODEL_DIR / PIPELINE_FILE)) -> str:
    """The md5 `dvc.lock` records for the model file (the train stage's output)."""
    if not lock_path.exists():
        raise PackagingError(f"{lock_path} is missing: run the pipeline first (`make run`)")
    lock = yaml.safe_load(lock_path.read_text())
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == model_file:
                md5: str = out["md5"]
                return md5
    raise PackagingError(f"{lock_path} records no {model_file}: run the pipeline (`make run`)")


def git_commit(repo: Path) -> str:
    """HEAD's sha, with `-dirty` when tracked files differ from it; `unknown` outside git."""
    sha = git.commit_of(repo, "HEAD")
    if sha is None:
        return "unknown"
    try:
        dirty = git.modified(repo)
    except GitError:
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def headline_metrics(metrics_path: Path) -> dict[str, float]:
    """The model's test-month scores from `contrail evaluate` (empty if it has not run)."""
    if not metrics_path.exists():
        return {}
    return {k: float(v) for k, v in json.loads(metrics_path.read_text())["model"].items()}


def read_verification(path: Path) -> pd.DataFrame:
    """The verification rows as written: dates left as they are, so HHMM times stay numbers."""
    return pd.read_json(path, orient="records", convert_dates=False, keep_default_dates=False)


def verification_sample(raw: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Real rows with missing weather, plus one destination no model has seen."""
    sample = raw.sample(min(len(raw), VERIFICATION_ROWS), random_state=seed).reset_index(drop=True)
    sample.loc[len(sample) - 1, "dest"] = "ZZZ"
    return sample


def _json_value(value: object) -> object:
    """A table cell as JSON: Python scalars, missing values as null."""
    if pd.isna(value):  # type: ignore[call-overload]  # scalars only: cells of a row
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def golden_requests(
    raw: pd.DataFrame, model: TrainedModel, model_tag: str, seed: int = 0
) -> dict[str, object]:
    """`GOLDEN_ROWS` flights of the test month (the month after training) as one-flight
    requests, each with the probability `model` gives it offline, as `contrail evaluate` does.

    Flights that never arrived have no label and are not in the test split: they are left out.
    Without test-month rows in `raw` (a packaging sample cut elsewhere), any rows serve.
    """
    card = model.card
    test_month = months.index(card.train_end) + 1
    labelled = raw[raw["arr_delay"].notna()] if "arr_delay" in raw.columns else raw
    rows = labelled[months.of(labelled) == test_month]
    if rows.empty:
        rows = labelled if not labelled.empty else raw
    rows = rows.sample(min(len(rows), GOLDEN_ROWS), random_state=seed).reset_index(drop=True)
    probabilities = model.predict_proba(build_features(rows, card.features))
    columns = required_inputs(card.features)
    flights = [
        {column: _json_value(value) for column, value in row.items()}
        for row in rows[columns].to_dict(orient="records")
    ]
    return {
        "format": GOLDENS_FORMAT,
        "model_tag": model_tag,
        "model_version": model_tag.split(":", 1)[1],
        "test_month": months.name(test_month),
        "cases": [
            {"request": {"flights": [flight]}, "probabilities": [probability]}
            for flight, probability in zip(flights, probabilities.tolist(), strict=True)
        ],
    }


def import_model(
    model_dir: Path,
    *,
    lock_path: Path,
    metrics_path: Path,
    read_raw_sample: Callable[[], pd.DataFrame],
    repo: Path,
) -> str:
    """Store the model (idempotent) and return its tag, e.g. `flight-delay:0f7862edea2e7d8f`.

    `read_raw_sample` is called only when the model is not in the store yet: serving a
    packaged model must not need the raw data (absent in a fresh clone or a deploy checkout).
    """
    import bentoml
    from bentoml.exceptions import NotFound

    model = TrainedModel.load(model_dir)  # refuses a scikit-learn version mismatch
    md5 = file_md5(model_dir / PIPELINE_FILE)
    recorded = dvc_lock_md5(lock_path)
    if md5 != recorded:
        raise PackagingError(
            f"{model_dir / PIPELINE_FILE} (md5 {md5}) is not the model {lock_path} records "
            f"(md5 {recorded}): run `dvc repro` or `dvc checkout` first"
        )
    tag = f"{MODEL_NAME}:{model_version(md5)}"
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        pass
    else:
        if all(Path(stored.path_of(name)).exists() for name in STORED_FILES):
            return str(stored.tag)
        # Packaged by an older contrail, without a file the service now needs: the same
        # model bytes, so the same tag, stored again complete.
        bentoml.models.delete(tag)
    card = model.card
    commit = git_commit(repo)
    metadata = {
        **asdict(card),
        "git_commit": commit,
        "dvc_model_md5": md5,
        "metrics": headline_metrics(metrics_path),
    }
    labels = {
        "project": "contrail",
        "git_commit": commit[:12],
        "train_window": f"{card.train_start}..{card.train_end}",
        "sklearn_version": card.sklearn_version,
    }
    raw_sample = read_raw_sample()
    columns = [c for c in sources.RAW_COLUMNS if c in raw_sample.columns]
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as stored:
        for name in MODEL_FILES:
            shutil.copy2(model_dir / name, Path(stored.path) / name)
        verification_sample(raw_sample[columns]).to_json(
            Path(stored.path) / VERIFICATION_FILE, orient="records", index=False
        )
        goldens = golden_requests(raw_sample, model, tag)
        (Path(stored.path) / GOLDENS_FILE).write_text(json.dumps(goldens, indent=1) + "\n")
    return tag


def build_bento(repo: Path, model_tag: str) -> str:
    """`bentoml build` of bentofile.yaml with the service pinned to `model_tag`; the Bento's tag."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bentoml",
            "build",
            "--bentofile",
            str(repo / "bentofile.yaml"),
            "--output",
            "tag",
            str(repo / "src"),
        ],
        env={**os.environ, "CONTRAIL_MODEL_TAG": model_tag, "PATH": _path_with_uv(repo)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PackagingError(f"bentoml build failed:\n{result.stdout}{result.stderr}")
    return result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")


def _path_with_uv(repo: Path) -> str:
    """PATH for `bentoml build`, which needs uv and otherwise tries to pip-install it (offline:
    fails). The Makefile installs uv into .tools/bin when none is on PATH."""
    path = os.environ.get("PATH", "")
    if shutil.which("uv") is None and (repo / ".tools/bin/uv").exists():
        return f"{repo / '.tools/bin'}{os.pathsep}{path}"
    return path

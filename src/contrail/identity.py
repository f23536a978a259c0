"""The model's name and version, defined once for everything that names the model: the
BentoML store tag (`flight-delay:<version>`), the GTO artifact (`flight-delay@v1.2.0`,
`flight-delay#production#3`), the retraining branch, and the version a smoke test expects."""

from __future__ import annotations

MODEL_NAME = "flight-delay"
# Hex digits of the model file's md5 (as dvc.lock records it) that make its version.
VERSION_HEX = 16


def model_version(model_md5: str) -> str:
    """The version of the model whose file has this md5: the same from dvc.lock as from the file."""
    return model_md5[:VERSION_HEX]

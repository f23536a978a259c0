"""The one way a `contrail` command reports an error no check foresaw: a single line."""

from __future__ import annotations

import os
import traceback

# Set to see the traceback of an unexpected error (a bug, not bad input).
DEBUG_ENV = "CONTRAIL_DEBUG"


def unexpected(command: str, exc: BaseException) -> str:
    """The line for `exc`; with CONTRAIL_DEBUG set, the traceback is printed first."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exc()
    return (
        f"{command} failed unexpectedly: {type(exc).__name__}: {exc} "
        f"(set {DEBUG_ENV}=1 for the traceback)"
    )

"""Process start-up: what a stage or the service loads before its first real work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """The garbage collector off while modules and the model load, their objects frozen after.

    pandas and scikit-learn make about a million objects that live as long as the process;
    collecting during the imports, and later, only walks them again: about 0.25 s of each
    stage's start on 2 cores, and of each of the service's processes.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()

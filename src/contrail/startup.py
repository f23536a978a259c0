"""Process start-up: what a stage and a service worker load before their first real work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """The garbage collector off while modules and the model load, their objects frozen after.

    pandas and scikit-learn make about a million objects that live as long as the process;
    collecting during the imports, and later, only walks them again: about 0.25 s of each
    stage's and each service worker's start on 2 cores.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()

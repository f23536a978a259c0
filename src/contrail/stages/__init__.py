"""The DVC stages, one module each: read inputs, call pure logic, write outputs atomically.

A stage module imports only what its stage needs, and dvc.yaml lists exactly those files as
the stage's `deps:` (tests/code/test_dvc_deps.py checks it), so editing one stage's code
reruns that stage and what follows it, nothing else. `contrail.cli` only dispatches to
`run(params)`; it is not a dependency of any stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("contrail")


class StageFailed(RuntimeError):
    """Input data or params make the stage impossible; the message says what and where."""


@contextmanager
def step(what: str) -> Iterator[None]:
    """Log how long a step took: timings go to the console, never into tracked outputs."""
    start = time.perf_counter()
    yield
    log.info("  %-44s %6.1fs", what, time.perf_counter() - start)

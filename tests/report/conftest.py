"""Fixtures for the report tests: the factories of `support.comparisons`, and the real
pipeline reproduced once per session in a throwaway repository (`pr_repos.build_origin`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from support.comparisons import GATE, comparison, evaluation, paired
from support.pr_repos import build_origin, init_repo, sample_months

from contrail.metrics import Evaluation
from contrail.params import GateParams
from contrail.report.compare import Comparison, SameRows


@pytest.fixture
def make_evaluation() -> Callable[..., Evaluation]:
    return evaluation


@pytest.fixture
def make_comparison() -> Callable[..., Comparison]:
    return comparison


@pytest.fixture
def make_paired() -> Callable[..., SameRows]:
    return paired


@pytest.fixture
def gate_params() -> GateParams:
    return GATE


@pytest.fixture(scope="session")
def report_sample(nycflights: pd.DataFrame) -> pd.DataFrame:
    return sample_months(nycflights)


@pytest.fixture(scope="session")
def origin(tmp_path_factory, report_sample: pd.DataFrame) -> tuple[Path, dict[str, str]]:
    """The pipeline reproduced on `main` and the pull-request branches (`build_origin`), and
    each branch's commit: built once, then only cloned (`pr_repos.ci_checkout`)."""
    root = tmp_path_factory.mktemp("origin")
    with pytest.MonkeyPatch.context() as monkeypatch:
        init_repo(root, monkeypatch)
        return root, build_origin(root, report_sample)

"""Drift scores from their definitions, for tests to check the pipeline's and the monitor's
against: independent of Evidently and of `contrail.drift`."""

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance


def drift_score(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """The configured methods from their definitions: Wasserstein distance in units of the
    reference's standard deviation (numeric), Jensen-Shannon distance of the category shares
    (categorical). Missing values are not compared."""
    reference, current = reference.dropna(), current.dropna()
    if numeric:
        return wasserstein_distance(reference, current) / max(float(np.std(reference)), 1e-3)
    categories = sorted(set(reference) | set(current))
    shares = [
        s.value_counts(normalize=True).reindex(categories, fill_value=0)
        for s in (reference, current)
    ]
    return float(jensenshannon(*shares))

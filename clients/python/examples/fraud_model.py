"""The model the examples serve: a scikit-learn LogisticRegression trained at start-up on synthetic
data (two features, `amount` and `age`), so that the examples need no download."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

FEATURES = ["amount", "age"]


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` rows of features and their labels: fraud grows with the amount and falls with age."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.lognormal(3.0, 0.7, n), rng.uniform(18, 80, n)])
    logit = 0.08 * (x[:, 0] - 25.0) - 0.05 * (x[:, 1] - 45.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def train() -> LogisticRegression:
    x, y = synthetic(2000, seed=0)
    return LogisticRegression().fit(x, y)

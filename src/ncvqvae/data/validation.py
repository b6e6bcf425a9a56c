"""A validation split carved from the training split, so that choosing a checkpoint never
looks at the test split.

UCR datasets come as train/test only. Validating on test to pick a checkpoint would tune
the model to the data its scores are measured on; the held-out part of the training split
is what selection may see. The split is stratified where every class can spare a series,
and seeded by the run's seed, so both stages (and a resumed run) hold out the same series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from ncvqvae.errors import ConfigError


@dataclass(frozen=True)
class ValidationSplit:
    """Indices into the training split: the series a stage trains on and those it
    validates on."""

    fit: np.ndarray
    val: np.ndarray


def validation_split(y_train: np.ndarray | None, n_train: int, fraction: float, seed: int) -> ValidationSplit:
    """Hold out ``fraction`` of ``n_train`` series (at least one, leaving at least two to
    train on), one class's share each when the labels allow it."""
    n_val = max(1, round(fraction * n_train))
    if n_train - n_val < 2:
        raise ConfigError(
            f"data.validation_fraction {fraction:g} leaves {n_train - n_val} of {n_train} training "
            "series to train on; lower it or set it to 0 (no validation split)"
        )
    index = np.arange(n_train)
    stratify = None
    if y_train is not None:
        counts = np.bincount(y_train)
        classes = int((counts > 0).sum())
        # Stratifying needs two series of every class and a slot for each class on both sides.
        if counts[counts > 0].min() >= 2 and classes <= n_val <= n_train - classes:
            stratify = y_train
    fit, val = train_test_split(index, test_size=n_val, random_state=seed, stratify=stratify)
    return ValidationSplit(fit=np.sort(fit), val=np.sort(val))

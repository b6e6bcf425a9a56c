"""Precision, recall, density and coverage of generated samples (Naeem, Oh, Uh, Choi and
Yoo, "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020).

Each real sample gets a ball reaching its k-th nearest real neighbour; each generated one
a ball reaching its k-th nearest generated neighbour:

- precision: share of generated samples inside some real ball (fidelity);
- recall: share of real samples inside some generated ball (diversity);
- density: how many real balls hold each generated sample, on average, over k (fidelity
  that is robust to real outliers; 1 for matching distributions, can exceed 1);
- coverage: share of real samples whose own ball holds a generated sample (diversity
  that is robust to generated outliers).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def _kth_neighbour_radius(points: np.ndarray, k: int) -> np.ndarray:
    distances = cdist(points, points)
    # Column 0 of each sorted row is the point itself (distance 0).
    return np.sort(distances, axis=1)[:, k]


def prdc(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict[str, float]:
    """real (N, D), fake (M, D) features -> precision, recall, density, coverage."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"PRDC with k = {k} needs more than {k} samples per set, got {len(real)} and {len(fake)}")
    real_radius = _kth_neighbour_radius(real, k)
    fake_radius = _kth_neighbour_radius(fake, k)
    cross = cdist(real, fake)  # (N, M)
    inside_real = cross <= real_radius[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((cross <= fake_radius[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum() / (k * len(fake))),
        "coverage": float((cross.min(axis=1) <= real_radius).mean()),
    }

"""A second feature space for FID: ROCKET's random convolutional features, as
TimeVQVAE's current evaluation uses them.

ROCKET (Dempster, Petitjean and Webb, "ROCKET: exceptionally fast and accurate time series
classification using random convolutional kernels", DMKD 2020) needs no training and no
labels, takes any length and any number of channels, and is the same for everyone who
uses the same kernels: an FID in this space can be computed for unlabelled data and
does not depend on an evaluator this package trained.

Our choices, beside TimeVQVAE's (ML4ITS/TimeVQVAE, evaluation/evaluation.py):
- aeon's ``Rocket`` transform with 1000 kernels and a fixed seed (TimeVQVAE: its own copy
  of the same kernel generator, 1000 kernels), two features per kernel (PPV and max);
- every channel (TimeVQVAE: the first channel only), so multivariate data are covered;
- each feature row L2-normalised, as TimeVQVAE does;
- no outlier removal before the FID (TimeVQVAE drops outlying rows): dropping samples
  that look wrong would hide exactly the failures FID is there to show.
"""

from __future__ import annotations

import numpy as np

DEFAULT_KERNELS = 1000


class RocketFeatures:
    """ROCKET features of series (N, C, L) -> (N, 2 n_kernels), rows of unit L2 norm.

    The kernels depend on the series length, channels and seed only; ``fit`` on the real
    training split fixes them (ROCKET's fit draws kernels, it learns nothing from values).
    """

    def __init__(self, x_fit: np.ndarray, *, n_kernels: int = DEFAULT_KERNELS, seed: int = 0) -> None:
        from aeon.transformations.collection.convolution_based import Rocket

        self.transform = Rocket(n_kernels=n_kernels, random_state=seed, n_jobs=1)
        self.transform.fit(np.asarray(x_fit, dtype=np.float64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        feats = np.asarray(self.transform.transform(np.asarray(x, dtype=np.float64)), dtype=np.float64)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return feats / np.maximum(norms, 1e-12)

"""Global standardization: one mean and one std from the whole training matrix.

A single scalar pair (rather than per-step or per-series statistics) is the reference
method's choice: it keeps the relative amplitudes between series, which the generator
must learn, and it is stored with the model so generated series can be mapped back to
the data's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ncvqvae.errors import DataError


@dataclass(frozen=True)
class Standardizer:
    mean: float
    std: float

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Standardizer:
        mean = float(np.mean(x_train, dtype=np.float64))
        std = float(np.std(x_train, dtype=np.float64))
        if not np.isfinite(std) or std < 1e-12:
            raise DataError(
                "the training data is constant (std 0); there is nothing to model"
            )
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return (x * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}

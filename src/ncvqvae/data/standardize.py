"""Standardization: one mean and one std per channel, from the whole training matrix.

For univariate data that is a single scalar pair over every value of the training split,
the reference method's choice: rather than per-step or per-series statistics, it keeps
the relative amplitudes between series, which the generator must learn. Multivariate
channels may carry different units (volts beside millivolts), so each channel gets its
own pair; one pair for all would leave a small-unit channel as a flat line. The pairs are
stored with the model so that generated series can be mapped back to the data's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ncvqvae.errors import DataError


@dataclass(frozen=True)
class Standardizer:
    """mean, std: one value per channel, in channel order."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        # Exports written before per-channel statistics hold one float each.
        object.__setattr__(self, "mean", tuple(np.atleast_1d(self.mean).astype(float).tolist()))
        object.__setattr__(self, "std", tuple(np.atleast_1d(self.std).astype(float).tolist()))

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Standardizer:
        """Per-channel statistics of x_train: (N, C, L)."""
        means, stds = [], []
        for channel in range(x_train.shape[1]):
            values = x_train[:, channel]
            means.append(float(np.mean(values, dtype=np.float64)))
            stds.append(float(np.std(values, dtype=np.float64)))
        flat = [c for c, s in enumerate(stds) if not np.isfinite(s) or s < 1e-12]
        if flat:
            what = "the training data is constant" if len(stds) == 1 else f"channel(s) {flat} are constant"
            raise DataError(f"{what} (std 0) in the training split; there is nothing to model")
        return cls(tuple(means), tuple(stds))

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if x.ndim != 3 or x.shape[1] != len(self.mean):
            raise DataError(
                f"expected series of shape (N, {len(self.mean)}, L), got shape {tuple(x.shape)}"
            )
        # In x's precision, as a Python float scalar would be: float32 data stay float32
        # arithmetic, which keeps univariate results bit-identical to one scalar pair.
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return (
            np.asarray(self.mean, dtype=dtype)[:, None],
            np.asarray(self.std, dtype=dtype)[:, None],
        )

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Data units -> standardized units, x: (N, C, L)."""
        mean, std = self._stats(x)
        return ((x - mean) / std).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Standardized units -> data units, x: (N, C, L)."""
        mean, std = self._stats(x)
        return (x * std + mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

"""FID at matched sample counts, with its floor and its spread.

FID is biased upwards by small sample counts, and the bias depends on the count, so a
generated set is compared with real data only at the count its floor uses:

- the floor: FID between two disjoint halves A and B of real test (no model involved,
  and no series the evaluator trained on);
- the score: FID between as many generated series as a half holds and half A;
- both averaged over several random halvings; the score's spread is over independently
  generated sample sets (one mean per set), the floor's over halvings.

``fid / fid_real`` is then a ratio of like with like: 1 for a generator as good as new
real data, whatever the test split's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ncvqvae.evaluation.metrics import frechet_distance

MAX_HALF = 1000  # large test splits: halves of at most this many series bound the cost


@dataclass(frozen=True)
class Halvings:
    """Random disjoint halves of the real test split, equal in size."""

    first: list[np.ndarray]
    second: list[np.ndarray]

    @property
    def size(self) -> int:
        return len(self.first[0])

    @classmethod
    def draw(cls, n_test: int, n_splits: int, seed: int) -> Halvings:
        if n_test < 4:
            raise ValueError(f"matched-count FID needs at least 4 real test series, got {n_test}")
        rng = np.random.default_rng(seed)
        half = min(n_test // 2, MAX_HALF)
        first, second = [], []
        for _ in range(n_splits):
            order = rng.permutation(n_test)
            first.append(order[:half])
            second.append(order[half : 2 * half])
        return cls(first, second)


@dataclass(frozen=True)
class MatchedFID:
    """fid, fid_std (over generated sets), floor, floor_std (over halvings), per-set count."""

    fid: float
    fid_std: float
    floor: float
    floor_std: float
    n_per_set: int

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}fid": self.fid,
            f"{prefix}fid_std": self.fid_std,
            f"{prefix}fid_real": self.floor,
            f"{prefix}fid_real_std": self.floor_std,
        }


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def matched_fid(real: np.ndarray, generated_sets: list[np.ndarray], halvings: Halvings, *, seed: int) -> MatchedFID:
    """real: (N_test, D) features of real test; generated_sets: R arrays (M_r, D), each
    with at least ``halvings.size`` rows."""
    rng = np.random.default_rng(seed)
    size = halvings.size
    per_set = []
    for generated in generated_sets:
        if len(generated) < size:
            raise ValueError(f"a generated set of {len(generated)} is smaller than a real half ({size})")
        scores = []
        for a in halvings.first:
            pick = rng.choice(len(generated), size=size, replace=False)
            assert len(pick) == len(a), "matched-count FID compares equal counts"
            scores.append(frechet_distance(generated[pick], real[a], warn_few_samples=False))
        per_set.append(float(np.mean(scores)))
    floor, floor_std = floor_of(real, halvings)
    return MatchedFID(float(np.mean(per_set)), _std(per_set), floor, floor_std, size)


def floor_of(real: np.ndarray, halvings: Halvings) -> tuple[float, float]:
    """The floor: FID of real half A against real half B, mean and std over halvings."""
    floors = [
        frechet_distance(real[a], real[b], warn_few_samples=False)
        for a, b in zip(halvings.first, halvings.second)
    ]
    return float(np.mean(floors)), _std(floors)


def matched_fid_of_pairs(real: np.ndarray, paired: np.ndarray, halvings: Halvings) -> float:
    """FID of a transform of real test (e.g. its reconstructions, row i of ``paired``
    from row i of ``real``) on half B against real half A, averaged over halvings: the
    floor's own pairs, with B replaced by what the model makes of it."""
    return float(np.mean([
        frechet_distance(paired[b], real[a], warn_few_samples=False)
        for a, b in zip(halvings.first, halvings.second)
    ]))

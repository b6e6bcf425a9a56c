"""The tokenizer's reconstructions of unseen series, scored as a full run scores them.

A full run measures ``fid_recon`` (test reconstructions against real test, on the floor's
own halvings) only after the prior has trained and sampled: tens of minutes per cell.
Candidate changes to stage 1 are screened on this figure alone, so it is computed here
from the tokenizer and the evaluator, with the same features, halvings and floor as
:func:`~ncvqvae.evaluation.generation.evaluate_samples`: the same tokenizer gives the
same number either way, and a tokenizer-only study's figures sit beside a full one's.

The reconstructions' near-copy rate is scored here too (see
:func:`~ncvqvae.evaluation.generation.recon_memorization`), so a screen sees stage 1's part
of the copying.
"""

from __future__ import annotations

import numpy as np

from ncvqvae.evaluation.fcn import FCN, extract_features
from ncvqvae.evaluation.generation import FLOOR_SEED, ROCKET_SEED, recon_memorization
from ncvqvae.evaluation.matched import Halvings, floor_of, matched_fid_of_pairs
from ncvqvae.evaluation.rocket import RocketFeatures


def reconstruction_scores(
    x_train: np.ndarray,
    x_test: np.ndarray,
    reconstructed_test: np.ndarray,
    evaluator: FCN | None,
    *,
    halvings: int,
    rocket_kernels: int,
) -> dict[str, float]:
    """FID of the test reconstructions, its real-data floor and their ratio, in the
    evaluator's features (``fid_*``) when there is one, and always in ROCKET's
    (``rocket_fid_*``, for unlabelled data), and the reconstructions' near-copy rate and
    distance to the training set (``near_copy_rate_recon``, ``nn_train_ratio_recon``).
    Standardized series (N, C, L)."""
    if reconstructed_test.shape != x_test.shape:
        raise ValueError(
            f"reconstructions of shape {reconstructed_test.shape} do not pair with the "
            f"test split's {x_test.shape}"
        )
    split = Halvings.draw(len(x_test), halvings, FLOOR_SEED)
    rocket = RocketFeatures(x_train, n_kernels=rocket_kernels, seed=ROCKET_SEED)
    spaces = {"rocket_": rocket}
    if evaluator is not None:
        spaces[""] = lambda x: extract_features(evaluator, x)
    out: dict[str, float] = {"n_per_set": float(split.size)} | recon_memorization(x_train, x_test, reconstructed_test)
    for prefix, features in spaces.items():
        real = features(x_test)
        floor, floor_std = floor_of(real, split)
        recon = matched_fid_of_pairs(real, features(reconstructed_test), split)
        out |= {
            f"{prefix}fid_recon": recon,
            f"{prefix}fid_real": floor,
            f"{prefix}fid_real_std": floor_std,
            f"{prefix}fid_recon_ratio": recon / floor if floor > 0 else float("nan"),
        }
    return out

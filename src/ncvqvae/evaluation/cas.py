"""CAS and TRTR by one recipe: how useful synthetic data are for training a classifier.

CAS (classification accuracy score; Ravuri and Vinyals, 2019) trains a classifier on
class-conditional samples alone and tests it on real test; TRTR trains the same
classifier on real train. Their ratio says how much of the real data's usefulness the
synthetic data keep, and it only means that if neither side is favoured by the recipe:

- the same network (the evaluator's FCN), optimiser, learning rate and batch rule;
- the same step cap, epoch cap and patience;
- each stops early on a stratified 20% held out from its own training source (synthetic
  samples for CAS, real train for TRTR) and keeps its best held-out epoch. Neither ever
  sees real test before it is scored. A fixed budget without held-out stopping would
  under- or over-train one side (50 real series and 1000 synthetic ones need different
  numbers of epochs), which made TRTR fall below CAS before.

Each side is fitted ``repeats`` times with different seeds (initial weights, hold-out
split, batch order): the mean and the std over fits are reported. TRTR depends on the real
data and the recipe alone, never on the generator, so its accuracies are cached beside the
evaluator (keyed by train and test data, recipe and package version): every run of a
dataset, every seed and study cell, pays for them once.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from ncvqvae.config import EvaluationConfig
from ncvqvae.evaluation.evaluator import cached_number, data_key
from ncvqvae.evaluation.fcn import accuracy
from ncvqvae.evaluation.fcn_training import FCNTrainingConfig, train_fcn


def classifier_recipe(config: EvaluationConfig, seed: int) -> FCNTrainingConfig:
    return FCNTrainingConfig(
        max_epochs=config.fcn_epochs,
        patience=config.cas_patience,
        val_fraction=0.2,
        max_steps=config.cas_steps,
        batch_size=config.cas_batch_size,
        seed=seed,
    )


def classifier_scores(
    x_synthetic: np.ndarray,
    y_synthetic: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    config: EvaluationConfig,
    *,
    seed: int,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """cas, cas_std, trtr, trtr_std and cas_trtr_ratio (the ratio of the means)."""
    cas, trtr = [], []
    for k in range(config.repeats):
        recipe = classifier_recipe(config, seed * 1000 + k)
        model = train_fcn(x_synthetic, y_synthetic, n_classes, recipe, progress=progress, description=f"CAS FCN {k + 1}/{config.repeats}", device=device)
        cas.append(accuracy(model, x_test, y_test))
        # TRTR's fits take seeds 0..R-1 whatever the run's seed: it is a property of the
        # dataset and the recipe, the same reference for every run (and fitted once).
        trtr.append(_trtr_accuracy(
            x_train, y_train, x_test, y_test, n_classes, classifier_recipe(config, k),
            progress=progress, description=f"TRTR FCN {k + 1}/{config.repeats}", device=device,
        ))
    spread = (lambda v: float(np.std(v, ddof=1))) if len(cas) > 1 else (lambda v: float("nan"))
    return {
        "cas": float(np.mean(cas)),
        "cas_std": spread(cas),
        "trtr": float(np.mean(trtr)),
        "trtr_std": spread(trtr),
        "cas_trtr_ratio": float(np.mean(cas) / max(np.mean(trtr), 1e-12)),
    }


def _trtr_accuracy(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    recipe: FCNTrainingConfig,
    *,
    progress: bool,
    description: str,
    device: str | torch.device,
) -> float:
    """Real test accuracy of the recipe's classifier fitted on real train, cached."""

    def fit() -> float:
        model = train_fcn(x_train, y_train, n_classes, recipe, progress=progress, description=description, device=device)
        return accuracy(model, x_test, y_test)

    key = data_key(x_train, y_train, x_test, y_test, json.dumps(dataclasses.asdict(recipe), sort_keys=True))
    return cached_number("trtr", key, fit)

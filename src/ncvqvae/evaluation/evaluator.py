"""The evaluator FCN of a dataset: trained once on the real training split, then cached.

IS, FID and CAS are only comparable across runs when they use the same feature
extractor, so the evaluator is keyed by the data and its training settings (not by the
run) and stored in a shared cache folder that every run of the dataset reuses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncvqvae import __version__
from ncvqvae.config import EvaluationConfig
from ncvqvae.evaluation.fcn import (
    FCN,
    FCNTrainingConfig,
    accuracy,
    fcn_cache_key,
    load_fcn,
    save_fcn,
    train_fcn,
)

CACHE_ENV = "NCVQVAE_CACHE"
EVALUATOR_VERSION = f"fcn-{__version__}"


def cache_dir() -> Path:
    """``$NCVQVAE_CACHE``, else ``~/.cache/ncvqvae``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "ncvqvae"


@dataclass
class Evaluator:
    model: FCN
    test_accuracy: float
    path: Path
    cached: bool


def evaluator_training_config(config: EvaluationConfig, seed: int) -> FCNTrainingConfig:
    return FCNTrainingConfig(
        max_epochs=config.fcn_epochs, patience=config.fcn_patience, val_fraction=0.2, seed=seed
    )


def get_evaluator(
    dataset_name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    config: EvaluationConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> Evaluator:
    """Load the cached evaluator for this data and settings, or train and cache it.

    Series are standardized (N, C, L), as every other model of the run sees them.
    """
    fcn_config = evaluator_training_config(config, seed)
    key = fcn_cache_key(x_train, y_train, fcn_config, EVALUATOR_VERSION)
    path = cache_dir() / "evaluators" / f"{dataset_name}-{key}.pt"
    if path.exists():
        model, meta = load_fcn(path)
        return Evaluator(model.to(device), float(meta["test_accuracy"]), path, cached=True)
    model = train_fcn(x_train, y_train, n_classes, fcn_config, device=device, progress=progress)
    test_accuracy = accuracy(model, x_test, y_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_fcn(model, path, {"dataset": dataset_name, "test_accuracy": test_accuracy, "key": key})
    return Evaluator(model, test_accuracy, path, cached=False)

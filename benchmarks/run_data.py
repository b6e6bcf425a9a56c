"""A finished run's data, standardized as in training, and its cached evaluator FCN:
what every benchmark that scores a run's samples starts from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncvqvae.config import RunConfig
from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.evaluator import get_evaluator
from ncvqvae.evaluation.fcn import FCN
from ncvqvae.pipeline import EVALUATOR_SEED, load_data
from ncvqvae.run_folder import RunFolder


@dataclass
class RunData:
    config: RunConfig
    data: TimeSeriesDataset
    x_train: np.ndarray
    x_test: np.ndarray
    evaluator: FCN
    standardizer: Standardizer


def load_run_data(run: Path) -> RunData:
    """The evaluator comes from the cache (trained there on first use), as in the run."""
    config = RunFolder(run).read_config()
    data = load_data(config)
    scaler = Standardizer.fit(data.x_train)
    x_train, x_test = scaler.transform(data.x_train), scaler.transform(data.x_test)
    evaluator = get_evaluator(
        data.name, x_train, data.y_train, x_test, data.y_test, data.n_classes,
        config.evaluation, seed=EVALUATOR_SEED, progress=False,
    ).model
    return RunData(config, data, x_train, x_test, evaluator, scaler)

"""Scoring a tokenizer's test reconstructions against its real-data floor."""

from __future__ import annotations

import numpy as np
import pytest

from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.reconstruction import reconstruction_scores


@pytest.fixture(scope="module")
def ecg200(ucr_dir):
    data = load_dataset("ECG200", ucr_dir)
    scale = Standardizer.fit(data.x_train)
    return scale.transform(data.x_train), scale.transform(data.x_test)


def test_a_perfect_reconstruction_scores_its_floor_and_a_smoothed_one_far_above(ecg200) -> None:
    x_train, x_test = ecg200
    perfect = reconstruction_scores(x_train, x_test, x_test, None, halvings=3, rocket_kernels=200)
    assert perfect["rocket_fid_recon"] == pytest.approx(perfect["rocket_fid_real"], rel=1e-6)
    assert perfect["rocket_fid_recon_ratio"] == pytest.approx(1.0, rel=1e-6)
    assert perfect["n_per_set"] == len(x_test) // 2
    # A moving average of 9 samples keeps each series' shape but loses its texture.
    kernel = np.ones(9) / 9
    smooth = np.apply_along_axis(lambda s: np.convolve(s, kernel, mode="same"), -1, x_test).astype(np.float32)
    smoothed = reconstruction_scores(x_train, x_test, smooth, None, halvings=3, rocket_kernels=200)
    assert smoothed["rocket_fid_real"] == perfect["rocket_fid_real"]  # the floor sees real data only
    assert smoothed["rocket_fid_recon_ratio"] > 2.0
    assert "fid_recon" not in smoothed  # no evaluator, no FCN features


def test_the_near_copy_rate_of_reconstructions_tells_a_copying_decoder_from_a_faithful_one(ecg200) -> None:
    x_train, x_test = ecg200
    faithful = reconstruction_scores(x_train, x_test, x_test, None, halvings=2, rocket_kernels=50)
    assert faithful["nn_train_ratio_recon"] == pytest.approx(1.0)
    assert faithful["near_copy_rate_recon"] <= 0.05  # by the threshold's definition
    # A decoder that returns each unseen series' nearest training series copies every one.
    distances = ((x_test[:, None] - x_train[None]) ** 2).sum(axis=(2, 3))
    copying = reconstruction_scores(x_train, x_test, x_train[distances.argmin(axis=1)], None, halvings=2, rocket_kernels=50)
    assert copying["near_copy_rate_recon"] == 1.0 and copying["nn_train_ratio_recon"] == 0.0


def test_reconstructions_that_do_not_pair_with_the_test_split_are_refused(ecg200) -> None:
    x_train, x_test = ecg200
    with pytest.raises(ValueError, match="do not pair with the test split"):
        reconstruction_scores(x_train, x_test, x_test[:-1], None, halvings=2, rocket_kernels=50)

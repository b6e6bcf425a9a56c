"""Scoring generated series on real GunPoint: the diagnostics that split blame between the
tokenizer (fid_recon), the prior's classes (cond_acc) and its class shares
(fid_conditional), and the per-class sample counts."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from ncvqvae.config import EvaluationConfig
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.fcn import accuracy
from ncvqvae.evaluation.fcn_training import FCNTrainingConfig, train_fcn
from ncvqvae.evaluation.generation import GenerationSamples, evaluate_samples, per_class_counts

SETTINGS = EvaluationConfig(cas_steps=10, repeats=1, halvings=2, post_hoc_steps=5, rocket_kernels=50, tsne=False)


@pytest.fixture(scope="module")
def gunpoint():
    data = load_dataset("GunPoint")
    scaler = Standardizer.fit(data.x_train)
    x_train, x_test = scaler.transform(data.x_train), scaler.transform(data.x_test)
    evaluator = train_fcn(
        x_train, data.y_train, 2, FCNTrainingConfig(max_epochs=40, max_steps=60, seed=0), progress=False
    )
    return x_train, data.y_train, x_test, data.y_test, evaluator


def score(gunpoint, samples, reconstructed_test=None):
    x_train, y_train, x_test, y_test, evaluator = gunpoint
    return evaluate_samples(
        samples, x_train, y_train, x_test, y_test, 2, evaluator, SETTINGS,
        seed=0, progress=False, reconstructed_test=reconstructed_test,
    ).metrics


def test_real_data_as_samples_scores_like_real_data(gunpoint):
    _, _, x_test, y_test, evaluator = gunpoint
    samples = GenerationSamples([x_test], conditional=x_test, conditional_labels=y_test)
    metrics = score(gunpoint, samples, reconstructed_test=x_test)
    # All of real test against itself: no distance; the matched-count protocol puts a
    # perfect reconstruction exactly on the floor of its halves.
    assert metrics["fid_full"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["rocket_fid_full"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["fid_recon"] == pytest.approx(metrics["fid_real"])
    assert metrics["rocket_fid_recon"] == pytest.approx(metrics["rocket_fid_real"])
    assert metrics["fid_conditional"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["cond_acc"] == pytest.approx(accuracy(evaluator, x_test, y_test))


def test_fid_recon_grows_as_the_reconstruction_blurs(gunpoint):
    _, _, x_test, y_test, _ = gunpoint
    samples = GenerationSamples([x_test])
    mild = score(gunpoint, samples, gaussian_filter1d(x_test, 0.5, axis=-1))["fid_recon"]
    strong = score(gunpoint, samples, gaussian_filter1d(x_test, 3.0, axis=-1))["fid_recon"]
    assert 0.0 < mild < strong


def test_cond_acc_drops_when_labels_are_swapped(gunpoint):
    _, _, x_test, y_test, evaluator = gunpoint
    swapped = GenerationSamples([x_test], conditional=x_test, conditional_labels=1 - y_test)
    metrics = score(gunpoint, swapped)
    assert metrics["cond_acc"] == pytest.approx(1.0 - accuracy(evaluator, x_test, y_test))
    assert "fid_recon" not in metrics


def test_fid_conditional_sees_classes_in_the_wrong_shares(gunpoint):
    # Real test series, but only class 0 among the "conditional" samples: each is a real
    # series, yet pooled they miss class 1, which fid_conditional must show.
    _, _, x_test, y_test, _ = gunpoint
    balanced = score(gunpoint, GenerationSamples([x_test], conditional=x_test, conditional_labels=y_test))
    only_class_0 = x_test[y_test == 0]
    skewed = score(
        gunpoint,
        GenerationSamples([x_test], conditional=only_class_0, conditional_labels=np.zeros(len(only_class_0), int)),
    )
    assert skewed["fid_conditional"] > balanced["fid_conditional"] + 1.0


def test_per_class_counts_keep_proportions_and_reach_the_minimum():
    counts = per_class_counts(np.array([0] * 24 + [1] * 26), 2, minimum_total=1000)
    assert counts.sum() >= 1000 and counts[1] > counts[0]
    assert per_class_counts(np.array([0, 0, 1]), 2, minimum_total=1).tolist() == [2, 1]

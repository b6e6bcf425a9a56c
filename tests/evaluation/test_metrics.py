"""IS, FID and the distribution statistics against cases with known answers."""

import warnings

import numpy as np
import pytest

from ncvqvae.evaluation.metrics import (
    autocorrelation_difference,
    class_conditional_fid,
    frechet_distance,
    frechet_distance_from_stats,
    inception_score,
    kurtosis_difference,
    marginal_distribution_difference,
    memorization_scores,
    nearest_neighbour_distances,
    skewness_difference,
)


def test_is_of_a_constant_classifier_is_one():
    probs = np.tile([0.2, 0.5, 0.3], (100, 1))
    mean, std = inception_score(probs)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_a_perfect_balanced_classifier_is_k():
    k = 4
    probs = np.tile(np.eye(k), (50, 1))  # every split of 20 rows holds 5 of each class
    mean, std = inception_score(probs, n_splits=10)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_is_uses_fewer_splits_than_samples():
    mean, _ = inception_score(np.eye(3), n_splits=10)
    assert mean == pytest.approx(1.0)


def test_fid_from_stats_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    got = frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, abs=1e-8)


def test_fid_from_stats_handles_rotated_non_commuting_covariances():
    # For S2 = c^2 S1 the matrices commute and Tr((S1 S2)^(1/2)) = c Tr(S1).
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    s1 = q @ np.diag([4.0, 2.0, 1.0, 0.5, 0.0]) @ q.T  # singular on purpose
    c = 1.7
    expected = (1 - c) ** 2 * np.trace(s1)
    got = frechet_distance_from_stats(np.zeros(5), s1, np.zeros(5), c**2 * s1)
    assert got == pytest.approx(expected, abs=1e-8)


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_fid_is_never_negative_for_nearly_singular_covariances():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.normal(size=(10, 64)), rng.normal(size=(10, 64))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
            assert frechet_distance(a, b) > 0.0
            assert frechet_distance(a, a + 1e-9 * b) >= 0.0


def test_fid_approximates_two_known_gaussians():
    rng = np.random.default_rng(0)
    m, s, d = 0.5, 2.0, 4
    a = rng.normal(size=(20000, d))
    b = m + s * rng.normal(size=(20000, d))
    expected = d * m**2 + d * (1 - s) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.05)


def test_fid_warns_with_few_samples():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="fewer than 2 x 8"):
        frechet_distance(rng.normal(size=(10, 8)), rng.normal(size=(40, 8)))


def test_class_conditional_fid_is_quiet_and_averages_classes():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 8))
    y = np.repeat([0, 1], 20)
    fake = real.copy()
    fake[y == 1] += 1.0  # class 1 shifted by 1 in every dimension: FID = 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid = class_conditional_fid(real, y, fake, y)
    assert fid == pytest.approx((0.0 + 8.0) / 2, abs=1e-6)


def test_class_conditional_fid_is_none_when_a_class_is_too_small():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    y_real = np.repeat([0, 1], 10)
    y_fake = np.array([0] * 19 + [1])
    assert class_conditional_fid(real, y_real, fake, y_fake) is None
    assert class_conditional_fid(real, y_real, fake, y_real, min_per_class=11) is None


@pytest.fixture(scope="module")
def noisy_sines():
    """Real and an independent draw of the same process: (200, 2, 50) each."""
    rng = np.random.default_rng(0)

    def draw(n):
        t = np.linspace(0, 4 * np.pi, 50)
        phase = rng.uniform(0, 2 * np.pi, (n, 2, 1))
        return np.sin(t + phase) + 0.1 * rng.standard_normal((n, 2, 50))

    return draw(200), draw(200), rng


def test_distribution_stats_are_zero_for_identical_sets(noisy_sines):
    real, _, _ = noisy_sines
    for statistic in (
        marginal_distribution_difference,
        autocorrelation_difference,
        skewness_difference,
        kurtosis_difference,
    ):
        assert statistic(real, real.copy()) == pytest.approx(0.0, abs=1e-12), statistic.__name__


def test_marginal_difference_grows_with_a_shift(noisy_sines):
    real, same, _ = noisy_sines
    near = marginal_distribution_difference(real, same)
    assert near < marginal_distribution_difference(real, same + 0.5)
    assert marginal_distribution_difference(real, same + 0.5) < marginal_distribution_difference(
        real, same + 5.0
    )


def test_autocorrelation_difference_grows_with_noise(noisy_sines):
    real, same, rng = noisy_sines
    noisy = same + 1.0 * rng.standard_normal(same.shape)
    assert autocorrelation_difference(real, same) < 0.02
    assert autocorrelation_difference(real, noisy) > 5 * autocorrelation_difference(real, same)
    assert autocorrelation_difference(real, noisy, max_lag=3) > 0


def test_skewness_and_kurtosis_differences_detect_shape_changes():
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((400, 1, 30))
    other_normal = rng.standard_normal((400, 1, 30))
    skewed = rng.exponential(size=(400, 1, 30))  # skewness 2, excess kurtosis 6
    heavy = rng.laplace(size=(400, 1, 30))  # skewness 0, excess kurtosis 3
    assert skewness_difference(normal, other_normal) < 0.1
    assert skewness_difference(normal, skewed) > 1.5
    assert kurtosis_difference(normal, other_normal) < 0.2
    assert kurtosis_difference(normal, heavy) > 2.0


def test_constant_time_steps_do_not_produce_nan():
    real = np.zeros((10, 1, 8))
    fake = np.random.default_rng(0).normal(size=(10, 1, 8))
    for statistic in (marginal_distribution_difference, autocorrelation_difference,
                      skewness_difference, kurtosis_difference):
        assert np.isfinite(statistic(real, fake)), statistic.__name__


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="same C and L"):
        marginal_distribution_difference(np.zeros((4, 1, 8)), np.zeros((4, 1, 9)))


@pytest.fixture(scope="module")
def gunpoint() -> tuple[np.ndarray, np.ndarray]:
    from ncvqvae.data.sources import load_dataset

    data = load_dataset("GunPoint")
    return data.x_train, data.x_test


def test_copies_of_the_training_set_are_flagged(gunpoint):
    train, test = gunpoint
    copies = np.concatenate([train, train[:30]])
    ratio, near_copy = memorization_scores(train, test, copies)
    assert ratio == 0.0 and near_copy == 1.0


def test_new_real_data_scores_as_novel(gunpoint):
    train, test = gunpoint
    ratio, near_copy = memorization_scores(train, test, test)
    assert ratio == pytest.approx(1.0)
    assert near_copy == pytest.approx(0.05, abs=0.01)  # its own 5th percentile, by construction
    # Slightly perturbed copies of training series are still near-copies.
    rng = np.random.default_rng(0)
    jittered = train + rng.normal(0, 0.02, train.shape)
    ratio, near_copy = memorization_scores(train, test, jittered)
    assert ratio < 0.3 and near_copy > 0.9


def test_memorization_scores_reject_mismatched_lengths(gunpoint):
    train, test = gunpoint
    with pytest.raises(ValueError, match="same C and L"):
        memorization_scores(train, test, test[:, :, :100])


def test_nearest_neighbour_distances_match_brute_force_across_chunks():
    rng = np.random.default_rng(1)
    queries, reference = rng.normal(size=(7, 1, 5)), rng.normal(size=(4, 1, 5))
    brute = np.sqrt(((queries[:, None] - reference[None]) ** 2).sum(axis=(2, 3))).min(axis=1)
    assert np.allclose(nearest_neighbour_distances(queries, reference, chunk=3), brute)

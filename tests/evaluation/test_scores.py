"""The scores added for comparability: matched-count FID, ROCKET features, the
discriminative and predictive scores, precision / recall / density / coverage, and CAS /
TRTR by one recipe. Each on real data: identical sets, a known-different pair, its range."""

from __future__ import annotations

import numpy as np
import pytest

from ncvqvae.config import preset
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.cas import classifier_scores
from ncvqvae.evaluation.matched import Halvings, matched_fid, matched_fid_of_pairs
from ncvqvae.evaluation.metrics import frechet_distance
from ncvqvae.evaluation.post_hoc import discriminative_score, predictive_score
from ncvqvae.evaluation.prdc import prdc
from ncvqvae.evaluation.rocket import RocketFeatures


@pytest.fixture(scope="module")
def ecg(ucr_dir):  # noqa: ANN001, ANN201
    data = load_dataset("ECG200", ucr_dir)
    scaler = Standardizer.fit(data.x_train)
    return data, scaler.transform(data.x_train), scaler.transform(data.x_test)


def _shuffled_in_time(x: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([s[:, rng.permutation(s.shape[1])] for s in x])


def test_rocket_features_are_unit_rows_and_tell_noise_from_data(ecg) -> None:  # noqa: ANN001
    _, x_train, x_test = ecg
    rocket = RocketFeatures(x_train, n_kernels=200, seed=0)
    real = rocket(x_test)
    assert real.shape == (100, 400)
    np.testing.assert_allclose(np.linalg.norm(real, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(real, RocketFeatures(x_train, n_kernels=200, seed=0)(x_test))
    assert frechet_distance(real, real, warn_few_samples=False) == pytest.approx(0.0, abs=1e-8)
    noise = rocket(np.random.default_rng(0).normal(size=x_test.shape).astype(np.float32))
    halves = Halvings.draw(len(real), 3, seed=0)
    floor = matched_fid(real, [real], halves, seed=0).floor
    assert matched_fid(real, [noise, noise], halves, seed=0).fid > 10 * floor


def test_matched_fid_compares_equal_counts_and_real_data_sits_on_the_floor(ecg) -> None:  # noqa: ANN001
    _, x_train, x_test = ecg
    rocket = RocketFeatures(x_train, n_kernels=200, seed=0)
    real, train = rocket(x_test), rocket(x_train)
    halves = Halvings.draw(len(real), 4, seed=1)
    assert halves.size == 50 and all(len(a) == len(b) == 50 for a, b in zip(halves.first, halves.second))
    assert all(not set(a) & set(b) for a, b in zip(halves.first, halves.second))
    # Real training series as the "generated" set: the score sits near the floor.
    score = matched_fid(real, [train, train[::-1]], halves, seed=0)
    assert score.n_per_set == 50 and np.isfinite(score.fid_std)
    assert 0.5 * score.floor < score.fid < 2.0 * score.floor
    # The reconstruction protocol: real test "reconstructed" perfectly is the floor itself.
    assert matched_fid_of_pairs(real, real, halves) == pytest.approx(score.floor)
    with pytest.raises(ValueError, match="smaller than a real half"):
        matched_fid(real, [train[:10]], halves, seed=0)


def test_discriminative_score_separates_noise_but_not_real_halves(ecg) -> None:  # noqa: ANN001
    _, x_train, x_test = ecg
    real = np.concatenate([x_train, x_test])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    same = discriminative_score(real[order[:100]], real[order[100:]], steps=150, seed=0)
    noise = discriminative_score(real, rng.normal(size=real.shape).astype(np.float32), steps=150, seed=0)
    assert 0 <= same < 0.1
    assert 0.4 < noise <= 0.5


def test_discriminative_score_tells_gunpoint_from_its_time_shuffle_at_every_seed() -> None:
    # GunPoint's smooth series min-max scaled into a narrow band once left the GRU at chance
    # (0.02 at seed 0): a score that cannot see this difference cannot rank generators.
    data = load_dataset("GunPoint")
    x = Standardizer.fit(data.x_train).transform(data.x_test)
    steps = preset("cpu").evaluation.post_hoc_steps  # at the budget runs get on a CPU
    for seed in (0, 1):
        assert discriminative_score(x, _shuffled_in_time(x), steps=steps, seed=seed) > 0.4


def test_predictive_score_is_worse_when_trained_on_scrambled_series(ecg) -> None:  # noqa: ANN001
    _, x_train, x_test = ecg
    real = predictive_score(x_train, x_test, x_train, steps=150, seed=0)
    scrambled = predictive_score(_shuffled_in_time(x_train), x_test, x_train, steps=150, seed=0)
    assert 0 < real < scrambled
    assert real == predictive_score(x_train, x_test, x_train, steps=150, seed=0)


def test_predictive_score_uses_the_last_channel_for_multivariate_data() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 6, 40)
    lead = np.sin(t[None] + rng.uniform(0, 3, (60, 1)))
    x = np.stack([lead, np.roll(lead, 1, axis=1)], axis=1).astype(np.float32)  # channel 1 = channel 0 one step later
    assert predictive_score(x[:40], x[40:], x[:40], steps=200, seed=0) < 0.1


def test_prdc_against_a_hand_computed_case() -> None:
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.1], [1.1], [50.0], [51.0]])
    # k = 1: real radii (to the nearest other real point) 1, 1, 1, 8; fake radii 1, 1, 1, 1.
    # precision: 0.1 and 1.1 lie in a real ball, 50 and 51 do not -> 1/2.
    # recall: real points within some fake ball: 0 (d 0.1 <= 1), 1, 2 (d 0.9 <= 1); 10 is not -> 3/4.
    # density: 0.1 lies in the balls of 0 and 1; 1.1 in those of 0 (d 1.1 > 1: no), 1, 2 -> 2 + 2 = 4 -> 4 / (1 * 4).
    # coverage: real points whose own ball holds a fake: 0, 1, 2 (d 0.9 <= 1); 10 (nearest fake 1.1, d 8.9 > 8) -> 3/4.
    assert prdc(real, fake, k=1) == {"precision": 0.5, "recall": 0.75, "density": 1.0, "coverage": 0.75}
    same = prdc(real, real, k=1)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


def test_prdc_on_real_data(ecg) -> None:  # noqa: ANN001
    _, x_train, x_test = ecg
    rocket = RocketFeatures(x_train, n_kernels=200, seed=0)
    real, train = rocket(x_test), rocket(x_train)
    close = prdc(real, train, k=5)
    far = prdc(real, rocket(np.random.default_rng(0).normal(size=x_test.shape).astype(np.float32)), k=5)
    assert close["precision"] > 0.7 and close["coverage"] > 0.7
    assert far["precision"] < 0.1 and far["coverage"] < 0.1
    for value in (*close.values(), *far.values()):
        assert value >= 0


def test_cas_and_trtr_share_a_recipe_and_real_data_scores_as_real(ecg) -> None:  # noqa: ANN001
    data, x_train, x_test = ecg
    config = preset("cpu").evaluation.__class__(fcn_epochs=60, cas_patience=10, cas_steps=300, repeats=2)
    scores = classifier_scores(
        x_train, data.y_train, x_train, data.y_train, x_test, data.y_test, 2, config, seed=0
    )
    # Training "synthetic" data that are the real training split: CAS is TRTR's recipe on
    # the same data, so the two agree up to the seeds' spread, and both are good.
    assert scores["trtr"] > 0.75 and scores["cas"] > 0.75
    assert abs(scores["cas_trtr_ratio"] - 1.0) < 0.1
    assert np.isfinite(scores["cas_std"]) and np.isfinite(scores["trtr_std"])


def test_trtr_is_fitted_once_per_data_and_recipe(ecg, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from ncvqvae.evaluation import cas as cas_module

    monkeypatch.setenv("NCVQVAE_CACHE", str(tmp_path))
    data, x_train, x_test = ecg
    config = preset("cpu").evaluation.__class__(fcn_epochs=5, cas_patience=2, cas_steps=20, repeats=2)
    fits: list[int] = []
    real_train_fcn = cas_module.train_fcn

    def counting(x, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        fits.append(len(x))
        return real_train_fcn(x, *args, **kwargs)

    monkeypatch.setattr(cas_module, "train_fcn", counting)
    synthetic = x_train[::-1].copy()
    first = classifier_scores(synthetic, data.y_train[::-1].copy(), x_train, data.y_train, x_test, data.y_test, 2, config, seed=0)
    assert len(fits) == 4 and len(list((tmp_path / "trtr").glob("*.json"))) == 2
    # Another run (another seed) of the same data: its CAS fits again, TRTR comes from the cache.
    second = classifier_scores(synthetic, data.y_train[::-1].copy(), x_train, data.y_train, x_test, data.y_test, 2, config, seed=1)
    assert len(fits) == 6
    assert second["trtr"] == first["trtr"] and second["trtr_std"] == first["trtr_std"]
    for path in (tmp_path / "trtr").glob("*.json"):
        path.write_text("{not json")  # a damaged cache entry is refitted, not trusted
    classifier_scores(synthetic, data.y_train[::-1].copy(), x_train, data.y_train, x_test, data.y_test, 2, config, seed=0)
    assert len(fits) == 10


def test_predictive_score_learns_gunpoint_within_the_cpu_budget() -> None:
    # At TimeGAN's learning rate and 100 steps the predictor barely moved (MAE 0.138 on
    # real data against 0.187 for shuffled): a score that small budgets leave untrained
    # says nothing about the samples.
    data = load_dataset("GunPoint")
    standardizer = Standardizer.fit(data.x_train)
    x_train, x_test = standardizer.transform(data.x_train), standardizer.transform(data.x_test)
    steps = preset("cpu").evaluation.post_hoc_steps
    real = predictive_score(x_train, x_test, x_train, steps=steps, seed=0)
    shuffled = predictive_score(_shuffled_in_time(x_train), x_test, x_train, steps=steps, seed=0)
    assert real < 0.05 and shuffled > 3 * real

"""The evaluator FCN: shapes, learning a separable task, determinism, saving and caching."""

import warnings

import numpy as np
import pytest
import torch

from ncvqvae.evaluation.evaluator import CorruptEvaluatorError, fcn_cache_key, load_fcn, save_fcn
from ncvqvae.evaluation.fcn import FCN, accuracy, extract_features, predict_proba
from ncvqvae.evaluation.fcn_training import FCNTrainingConfig, stratified_split, train_fcn

# A small budget: enough for sine vs square waves, and well under a second on 2 cores.
FAST = FCNTrainingConfig(max_epochs=30, patience=30, max_steps=40, seed=0)


def sine_and_square_waves(n_per_class: int, length: int = 64, seed: int = 0):
    """Two classes with random frequency and phase plus noise: x (2n, 1, L), y (2n,)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length)
    phase = rng.uniform(0, 2 * np.pi, (2 * n_per_class, 1))
    freq = rng.uniform(2, 4, (2 * n_per_class, 1))
    waves = np.sin(2 * np.pi * freq * t + phase)
    waves[n_per_class:] = np.sign(waves[n_per_class:])
    x = waves + 0.3 * rng.standard_normal(waves.shape)
    y = np.repeat([0, 1], n_per_class)
    return x[:, None, :].astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def waves():
    return sine_and_square_waves(40, seed=0), sine_and_square_waves(40, seed=1)


@pytest.fixture(scope="module")
def trained(waves):
    (x, y), _ = waves
    return train_fcn(x, y, 2, FAST, progress=False)


def test_shapes_for_any_length_and_channels():
    model = FCN(in_channels=3, n_classes=5).eval()
    x = torch.randn(4, 3, 37)
    assert model.features(x).shape == (4, 128)
    assert model(x).shape == (4, 5)


def test_explicit_padding_equals_torch_same_padding():
    model = FCN(1, 2)
    first_conv = model.body[0][1]
    reference = torch.nn.Conv1d(1, 128, 8, padding="same")
    reference.load_state_dict(first_conv.state_dict())
    x = torch.randn(2, 1, 21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = reference(x)
    torch.testing.assert_close(first_conv(model.body[0][0](x)), expected)


def test_learns_sine_vs_square(waves, trained):
    _, (x_test, y_test) = waves
    assert accuracy(trained, x_test, y_test) >= 0.9
    assert not trained.training


def test_predict_proba_and_features(waves, trained):
    _, (x_test, _) = waves
    probs = predict_proba(trained, x_test, batch_size=7)
    assert probs.shape == (80, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    feats = extract_features(trained, x_test, batch_size=7)
    assert feats.shape == (80, 128) and feats.dtype == np.float32
    # Batching must not change the result (eval-mode BatchNorm uses running statistics).
    np.testing.assert_allclose(feats, extract_features(trained, x_test), rtol=1e-5, atol=1e-6)


def test_same_seed_same_weights(waves):
    (x, y), (x_test, _) = waves
    config = FCNTrainingConfig(max_epochs=3, patience=3, max_steps=6, seed=3)
    first = train_fcn(x, y, 2, config, progress=False)
    second = train_fcn(x, y, 2, config, progress=False)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(predict_proba(first, x_test), predict_proba(second, x_test))


def test_training_leaves_global_rng_alone(waves):
    (x, y), _ = waves
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_fcn(x, y, 2, FCNTrainingConfig(max_epochs=1, max_steps=1), progress=False)
    torch.testing.assert_close(torch.rand(3), expected)


def test_stratified_split_keeps_every_class_on_both_sides():
    y = np.array([0] * 10 + [1] * 3 + [2] * 2)
    train, val = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    assert sorted(np.concatenate([train, val])) == list(range(len(y)))
    for cls in (0, 1, 2):
        assert (y[train] == cls).any() and (y[val] == cls).any()
    assert (y[val] == 0).sum() == 2


def test_no_hold_out_when_a_class_has_one_series():
    y = np.array([0, 0, 0, 1])
    train, val = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    assert len(train) == 4 and len(val) == 0


def test_rejects_labels_out_of_range(waves):
    (x, y), _ = waves
    with pytest.raises(ValueError, match="labels must lie in 0..0"):
        train_fcn(x, y, 1, FAST, progress=False)


def test_save_load_round_trip(tmp_path, waves, trained):
    _, (x_test, _) = waves
    path = tmp_path / "cache" / "fcn.pt"
    save_fcn(trained, path, {"dataset": "waves", "test_accuracy": 1.0})
    assert not path.with_name("fcn.pt.tmp").exists()
    loaded, meta = load_fcn(path)
    assert meta == {"dataset": "waves", "test_accuracy": 1.0}
    assert not loaded.training
    np.testing.assert_array_equal(predict_proba(loaded, x_test), predict_proba(trained, x_test))


def test_truncated_file_gives_a_clear_error(tmp_path, trained):
    path = tmp_path / "fcn.pt"
    save_fcn(trained, path, {})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptEvaluatorError, match="delete .*fcn.pt.* retrain") as info:
        load_fcn(path)
    assert isinstance(info.value, ValueError)


def test_garbage_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "fcn.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=str(path)):
        load_fcn(path)


def test_cache_key_changes_with_data_config_and_version(waves):
    (x, y), _ = waves
    key = fcn_cache_key(x, y, FAST, "1")
    assert len(key) == 16 and key == fcn_cache_key(x.copy(), y.copy(), FAST, "1")
    x_changed = x.copy()
    x_changed[0, 0, 0] += 1e-3
    y_changed = y.copy()
    y_changed[0] = 1
    others = {
        fcn_cache_key(x_changed, y, FAST, "1"),
        fcn_cache_key(x, y_changed, FAST, "1"),
        fcn_cache_key(x[:-1], y[:-1], FAST, "1"),
        fcn_cache_key(x, y, FCNTrainingConfig(seed=1), "1"),
        fcn_cache_key(x, y, FAST, "2"),
    }
    assert key not in others and len(others) == 5


def test_one_evaluator_is_trained_for_concurrent_callers_and_named_by_its_weights(tmp_path, waves, monkeypatch):
    """Two workers of a study asking for the same evaluator at once train it once, and both
    record the same weights digest (a study's cells are scored in one feature space)."""
    import threading

    from ncvqvae.config import EvaluationConfig
    from ncvqvae.evaluation import evaluator as module

    (x, y), (x_test, y_test) = waves
    calls = []

    def slow_train(*args, **kwargs):
        calls.append(1)
        threading.Event().wait(0.3)  # long enough for the other caller to arrive
        return train_fcn(x, y, 2, FAST, progress=False)

    monkeypatch.setattr(module, "train_fcn", slow_train)
    config = EvaluationConfig(fcn_epochs=5, fcn_patience=5)
    results = []
    with module.cache_at(tmp_path / "study-cache") as root:
        threads = [
            threading.Thread(target=lambda: results.append(module.get_evaluator("Waves", x, y, x_test, y_test, 2, config, progress=False)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert module.cache_dir() == root
    assert module.cache_dir() != root  # restored after the block
    assert len(calls) == 1 and sorted(r.cached for r in results) == [False, True]
    assert results[0].digest == results[1].digest == module.weights_digest(load_fcn(results[0].path)[0])
    assert results[0].path.parent == tmp_path / "study-cache" / "evaluators"
    other = train_fcn(x, y, 2, FCNTrainingConfig(max_epochs=30, patience=30, max_steps=40, seed=1), progress=False)
    assert module.weights_digest(other) != results[0].digest

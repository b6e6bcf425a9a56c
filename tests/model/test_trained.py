"""The trained-run object on a real (tiny) GunPoint run: tokens, embeddings, labels,
imputation and forecasting, in the data's own units."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ncvqvae import load
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import ConfigError, DataError
from ncvqvae.evaluation.tokens import encode_split, fit_linear_probes
from ncvqvae.pipeline import run_all
from ncvqvae.tokenizer.grid import frames_touched

from ..conftest import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api") / "gp"
    run_all(tiny_config(ssl={"method": "barlowtwins"}), out)
    return out


@pytest.fixture(scope="module")
def gunpoint():  # noqa: ANN201
    return load_dataset("GunPoint")


def test_the_model_module_does_not_import_training() -> None:
    code = "import sys, ncvqvae.model.trained; print('lightning' in sys.modules, 'ncvqvae.training' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_tokenize_is_what_the_prior_trained_on(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    tokens = model.tokenize(gunpoint.x_train)
    assert tokens.shape == (50, model.tokenizer.n_tokens) and tokens.dtype == np.int64
    # The same codes by another path: a full forward pass of the standardized series.
    encoded = encode_split(model.tokenizer, model.standardizer.transform(gunpoint.x_train))
    np.testing.assert_array_equal(tokens, encoded.tokens)
    # (N, L) is accepted for univariate data.
    np.testing.assert_array_equal(model.tokenize(gunpoint.x_train[:, 0]), tokens)


def test_embed_reproduces_the_run_s_probe_accuracy(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    train, test = model.embed(gunpoint.x_train), model.embed(gunpoint.x_test)
    assert train.shape == (50, model.tokenizer.config.hidden_dim)
    probe = fit_linear_probes(train, gunpoint.y_train, test, gunpoint.y_test)
    recorded = json.loads((run / "metrics.json").read_text())["tokenizer"]["probe"]
    assert probe == pytest.approx(recorded)


def test_reconstruct_is_in_data_units(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    x = gunpoint.x_test[:20]
    recon = model.reconstruct(x)
    assert recon.shape == x.shape
    mse_standardized = float(np.mean(((recon - x) / model.standardizer.std[0]) ** 2))
    recorded = json.loads((run / "metrics.json").read_text())["tokenizer"]["recon_mse"]
    assert mse_standardized < 3 * recorded + 0.05


def test_labels_are_the_dataset_s_own(run: Path) -> None:
    model = load(run)
    assert model.classes.tolist() == [1, 2]
    assert model.class_index([2, "1", 1.0, np.int64(2)]).tolist() == [1, 0, 0, 1]
    with pytest.raises(ConfigError, match="class label '0' is not one of this model's classes: 1, 2"):
        model.sample(2, class_label=0)


def test_impute_keeps_observed_values_and_fills_every_gap(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    x = gunpoint.x_test[:12].copy()
    gaps = x.copy()
    gaps[:6, 0, 40:85] = np.nan  # a 30% gap in the middle
    gaps[6:, 0, :20] = np.nan  # a missing start
    filled = model.impute(gaps, seed=3)
    observed = ~np.isnan(gaps)
    np.testing.assert_array_equal(filled[observed], gaps[observed])
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled, model.impute(gaps, seed=3))
    assert not np.array_equal(filled, model.impute(gaps, seed=4))
    # A series without gaps comes back as it was.
    np.testing.assert_array_equal(model.impute(x[:2]), x[:2])
    # Class-conditional imputation with the dataset's labels.
    labelled = model.impute(gaps, class_label=model.classes[gunpoint.y_test[:12]], seed=3)
    np.testing.assert_array_equal(labelled[observed], gaps[observed])


def test_forecast_fills_the_missing_end(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    head = gunpoint.x_test[:5, :, :120]
    future = model.forecast(head, 30, seed=0)
    assert future.shape == (5, 1, 30) and np.isfinite(future).all()
    with pytest.raises(ConfigError, match="must equal the model's length 150"):
        model.forecast(head, 10)


def test_bad_inputs_to_the_model(run: Path, gunpoint) -> None:  # noqa: ANN001
    model = load(run)
    with pytest.raises(DataError, match=r"expected series of shape \(N, 1, 150\)"):
        model.tokenize(np.zeros((3, 1, 100)))
    bad = gunpoint.x_test[:3].copy()
    bad[1, 0, 4] = np.nan
    with pytest.raises(DataError, match="series 1"):
        model.embed(bad)
    with pytest.raises(ConfigError, match="guidance must be >= 0"):
        model.sample(2, guidance=-1.0)
    with pytest.raises(ConfigError, match="token_temperature must be > 0"):
        model.sample(2, token_temperature=0.0)


def test_token_temperature_is_the_run_s_unless_given(run: Path) -> None:
    model = load(run)
    assert model.token_temperature == 1.0  # the run's config: SPEC's sampler
    default = model.sample(16, seed=5)
    np.testing.assert_array_equal(model.sample(16, seed=5, token_temperature=1.0), default)
    assert not np.array_equal(model.sample(16, seed=5, token_temperature=2.0), default)


def test_gap_touches_only_the_frames_around_it() -> None:
    missing = torch.zeros(1, 40, dtype=torch.bool)
    missing[0, 20:24] = True
    frames = frames_touched(missing, n_fft=8, hop=2)[0]
    # Frame j sees samples [2j - 4, 2j + 4): frames 9..13 see the gap [20, 24).
    assert torch.nonzero(frames).flatten().tolist() == [9, 10, 11, 12, 13]


def test_multichannel_standardization_is_per_channel() -> None:
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, (30, 50)), rng.normal(100, 0.001, (30, 50))], axis=1)
    scaler = Standardizer.fit(x)
    z = scaler.transform(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-3)
    np.testing.assert_allclose(scaler.inverse(z), x, rtol=1e-5)
    # Univariate: one pair over every value, as before.
    uni = x[:, :1]
    assert Standardizer.fit(uni).mean == (float(np.mean(uni, dtype=np.float64)),)

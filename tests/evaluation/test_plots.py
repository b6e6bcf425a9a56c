"""Every plot writes a real PNG from small random data, without a display."""

import numpy as np
import pytest

from ncvqvae.evaluation.plots import (
    codebook_perplexity,
    plot_codebook_usage,
    plot_feature_embedding,
    plot_samples_per_class,
    plot_token_tsne,
    plot_training_curves,
    read_loss_curves,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_samples_per_class(tmp_path, rng):
    real_x = rng.normal(size=(12, 2, 40)).astype(np.float32)
    fake_x = rng.normal(size=(9, 2, 40)).astype(np.float32)
    real_y = np.repeat([0, 1, 2], 4)
    fake_y = np.array([0] * 5 + [1] * 4)  # class 2 has no generated samples
    out = plot_samples_per_class(real_x, real_y, fake_x, fake_y, tmp_path / "s.png",
                                 n_per_class=3, class_names=["up", "down", "flat"])
    assert out == tmp_path / "s.png"
    assert_png(out)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_feature_embedding(tmp_path, rng, method):
    out = plot_feature_embedding(rng.normal(size=(25, 16)), rng.normal(1, 1, size=(20, 16)),
                                 tmp_path / f"{method}.png", method=method)
    assert_png(out)


def test_feature_embedding_rejects_unknown_method(tmp_path, rng):
    with pytest.raises(ValueError, match="pca' or 'tsne"):
        plot_feature_embedding(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)),
                               tmp_path / "x.png", method="umap")


def test_codebook_usage(tmp_path, rng):
    counts = rng.integers(0, 50, size=32)
    counts[:3] = 0
    assert_png(plot_codebook_usage(counts, tmp_path / "codebook" / "usage.png"))


def test_codebook_perplexity():
    assert codebook_perplexity(np.array([5, 5, 5, 5, 0])) == pytest.approx(4.0)
    assert codebook_perplexity(np.array([7, 0, 0])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        codebook_perplexity(np.zeros(4))


def test_token_tsne(tmp_path, rng):
    labels = np.repeat([0, 1, 2], 10)
    pooled = rng.normal(size=(30, 64)) + labels[:, None]
    assert_png(plot_token_tsne(pooled, labels, tmp_path / "tokens.png"))


CSV_TEXT = """epoch,step,train/loss_step,train/loss_epoch,val/loss,val/recon_mse,lr-AdamW
0,4,0.9,,,,0.001
0,9,0.7,,,,
0,9,,,0.75,0.2,
0,9,,0.8,,,
1,14,0.5,,,,0.001
1,19,0.4,,,,
1,19,,,0.45,0.1,
1,19,,0.45,,,
"""


def test_read_loss_curves_keeps_loss_columns_per_epoch(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(CSV_TEXT)
    curves = read_loss_curves(csv_path)
    assert set(curves) == {"train/loss_epoch", "val/loss"}
    epochs, values = curves["val/loss"]
    np.testing.assert_array_equal(epochs, [0, 1])
    np.testing.assert_allclose(values, [0.75, 0.45])


def test_training_curves_skip_missing_files(tmp_path):
    stage1 = tmp_path / "stage1" / "metrics.csv"
    stage1.parent.mkdir()
    stage1.write_text(CSV_TEXT)
    stage2 = tmp_path / "stage2" / "metrics.csv"
    stage2.parent.mkdir()
    stage2.write_text("epoch,step,val/acc\n0,3,0.5\n")
    paths = {"stage 1": stage1, "stage 2": stage2, "evaluator": tmp_path / "missing.csv"}
    assert_png(plot_training_curves(paths, tmp_path / "curves.png"))
    assert_png(plot_training_curves({"x": tmp_path / "nope.csv"}, tmp_path / "empty.png"))

"""Every figure of a run's report, drawn from the run's data, model and samples.

Class legends use the dataset's own labels everywhere (``class_names``); series are shown
in the data's units, features in the evaluator's space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.fcn import FCN, extract_features
from ncvqvae.evaluation.generation import GenerationSamples
from ncvqvae.evaluation.plots import (
    plot_class_bands,
    plot_codebook_usage,
    plot_feature_embedding,
    plot_nearest_copies,
    plot_samples_per_class,
    plot_token_tsne,
    plot_training_curves,
    plot_unconditional_samples,
)
from ncvqvae.evaluation.tokens import encode_split
from ncvqvae.model.trained import TrainedModel


def nearest_training_series(samples: np.ndarray, train: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each sample's nearest training series, Euclidean."""
    flat_train = train.reshape(len(train), -1)
    dist, index = [], []
    for start in range(0, len(samples), chunk):
        d = cdist(samples[start : start + chunk].reshape(-1, flat_train.shape[1]), flat_train)
        index.append(d.argmin(axis=1))
        dist.append(d.min(axis=1))
    return np.concatenate(dist), np.concatenate(index)


def draw_run_plots(
    plots_dir: Path,
    data: TimeSeriesDataset,
    standardizer: Standardizer,
    model: TrainedModel,
    evaluator: FCN | None,
    samples: GenerationSamples,
    logs_dir: Path,
    *,
    seed: int,
    tsne: bool,
) -> dict[str, Path]:
    """{caption: PNG} in the order the report shows them."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    names = data.class_names
    x_train, x_test = standardizer.transform(data.x_train), standardizer.transform(data.x_test)
    unconditional = standardizer.inverse(samples.unconditional)
    plots: dict[str, Path] = {
        "Unconditional samples beside real test series": plot_unconditional_samples(
            data.x_test, unconditional, plots_dir / "unconditional.png"
        )
    }
    if samples.conditional is not None:
        conditional = standardizer.inverse(samples.conditional)
        plots["Real (left) vs class-conditional generated (right) series, per class"] = plot_samples_per_class(
            data.x_test, data.y_test, conditional, samples.conditional_labels,
            plots_dir / "samples_per_class.png", class_names=names,
        )
        plots["Per class: mean ± one sd over series at each time step, real test vs class-conditional samples"] = plot_class_bands(
            data.x_test, data.y_test, conditional, samples.conditional_labels, plots_dir / "class_bands.png", class_names=names,
        )
    distances, nearest = nearest_training_series(samples.unconditional, x_train)
    plots["The samples closest to a training series, over that series (what a near-copy looks like)"] = plot_nearest_copies(
        unconditional, data.x_train, distances * standardizer.std[0], nearest, plots_dir / "nearest_copies.png"
    )
    if evaluator is not None:
        real_feats = extract_features(evaluator, x_test)
        fake_feats = extract_features(evaluator, samples.unconditional)
        plots["PCA of evaluator-FCN features: real test vs unconditional samples"] = plot_feature_embedding(
            real_feats, fake_feats, plots_dir / "pca.png", method="pca", seed=seed
        )
        if tsne:
            plots["t-SNE of evaluator-FCN features: real test vs unconditional samples"] = plot_feature_embedding(
                real_feats[:1000], fake_feats[:1000], plots_dir / "tsne.png", method="tsne", seed=seed
            )
    train = encode_split(model.tokenizer, x_train)
    counts = np.bincount(train.tokens.ravel(), minlength=model.tokenizer.vocab_size)
    plots["Codebook usage on the training split"] = plot_codebook_usage(counts, plots_dir / "codebook_usage.png")
    if data.labelled and tsne:
        test = encode_split(model.tokenizer, x_test[:2000])
        plots["t-SNE of average-pooled tokens (test split), coloured by class"] = plot_token_tsne(
            test.pooled, data.y_test[:2000], plots_dir / "token_tsne.png", seed=seed, class_names=names
        )
    logs = {stage: logs_dir / stage / "metrics.csv" for stage in ("tokenizer", "prior")}
    plots["Training curves"] = plot_training_curves(logs, plots_dir / "training_curves.png")
    return plots

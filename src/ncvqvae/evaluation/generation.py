"""Scoring generated series against real ones: IS, FID, CAS/TRTR, cFID, TSGBench stats, and
how close samples sit to the training set.

Everything is computed in standardized units with the cached evaluator FCN; the sample
counts and splits used are returned beside the numbers, for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ncvqvae.config import EvaluationConfig
from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.evaluation.fcn import (
    FCN,
    FCNTrainingConfig,
    accuracy,
    extract_features,
    predict_proba,
    train_fcn,
)
from ncvqvae.evaluation.metrics import (
    autocorrelation_difference,
    class_conditional_fid,
    frechet_distance,
    inception_score,
    kurtosis_difference,
    marginal_distribution_difference,
    memorization_scores,
    skewness_difference,
)
from ncvqvae.model.trained import TrainedModel


@dataclass
class GenerationSamples:
    """Standardized generated series: unconditional (N, C, L) and per class (M, C, L)."""

    unconditional: np.ndarray
    conditional: np.ndarray | None = None
    conditional_labels: np.ndarray | None = None


@dataclass
class GenerationReport:
    metrics: dict[str, float | None]
    notes: dict[str, int | str] = field(default_factory=dict)


def per_class_counts(y_train: np.ndarray, n_classes: int, minimum_total: int) -> np.ndarray:
    """As many samples per class as the real training set has, scaled up to a total of at
    least ``minimum_total`` so that small datasets still give CAS a usable training set."""
    counts = np.bincount(y_train, minlength=n_classes)
    scale = max(1.0, minimum_total / counts.sum())
    return np.array([math.ceil(c * scale) for c in counts])


def draw_samples(
    model: TrainedModel, data: TimeSeriesDataset, config: EvaluationConfig, *, seed: int
) -> GenerationSamples:
    n_uncond = max(len(data.x_test), config.min_samples)
    unconditional = model.sample_standardized(n_uncond, seed=seed)
    if not data.labelled:
        return GenerationSamples(unconditional)
    counts = per_class_counts(data.y_train, data.n_classes, config.min_cas_samples)
    labels = np.repeat(np.arange(data.n_classes), counts)
    conditional = model.sample_standardized(
        len(labels), class_index=labels, guidance=config.guidance, seed=seed + 1
    )
    return GenerationSamples(unconditional, conditional, labels)


def evaluate_samples(
    samples: GenerationSamples,
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    x_test: np.ndarray,
    y_test: np.ndarray | None,
    n_classes: int,
    evaluator: FCN | None,
    config: EvaluationConfig,
    *,
    seed: int,
    progress: bool = True,
    reconstructed_test: np.ndarray | None = None,
) -> GenerationReport:
    """Every generation metric; the FCN-based ones only when there is an evaluator.

    Args:
        reconstructed_test: the tokenizer's reconstruction of ``x_test``. Its FID to the
            real test split (``fid_recon``) is what a perfect prior could reach with this
            tokenizer, so it tells whether a poor FID comes from stage 1 or stage 2.
    """
    fake = samples.unconditional
    metrics: dict[str, float | None] = {
        "mdd": marginal_distribution_difference(x_test, fake),
        "acd": autocorrelation_difference(x_test, fake),
        "sd": skewness_difference(x_test, fake),
        "kd": kurtosis_difference(x_test, fake),
    }
    metrics["nn_train_ratio"], metrics["near_copy_rate"] = memorization_scores(x_train, x_test, fake)
    notes: dict[str, int | str] = {
        "n_unconditional": len(fake),
        "n_real_test": len(x_test),
        "n_real_train": len(x_train),
    }
    if evaluator is None or y_train is None:
        return GenerationReport(metrics, notes)
    feats_train = extract_features(evaluator, x_train)
    feats_test = extract_features(evaluator, x_test)
    feats_fake = extract_features(evaluator, fake)
    is_mean, is_std = inception_score(predict_proba(evaluator, fake), n_splits=10)
    metrics.update(
        {
            "fid": frechet_distance(feats_test, feats_fake),
            "fid_real": frechet_distance(feats_train, feats_test),
            "is_mean": is_mean,
            "is_std": is_std,
        }
    )
    if reconstructed_test is not None:
        metrics["fid_recon"] = frechet_distance(feats_test, extract_features(evaluator, reconstructed_test))
    if samples.conditional is not None:
        feats_cond = extract_features(evaluator, samples.conditional)
        # Does a sample drawn for class c look like class c to the evaluator?
        metrics["cond_acc"] = accuracy(evaluator, samples.conditional, samples.conditional_labels)
        # The conditional samples come in the training set's class proportions, so pooled
        # they are draws from sum_c p(c) p(x | c). Beside ``fid`` (the "no class" path) it
        # separates a prior that models each class well but samples the classes in the
        # wrong shares unconditionally from one that models the classes badly.
        metrics["fid_conditional"] = frechet_distance(feats_test, feats_cond)
        metrics["cfid"] = class_conditional_fid(
            feats_test, y_test, feats_cond, samples.conditional_labels
        )
        # CAS and TRTR share one recipe and one fixed budget, so their gap measures the
        # data alone; no held-out early stopping, which synthetic data would bias.
        recipe = FCNTrainingConfig(
            max_epochs=10_000, max_steps=config.cas_steps, val_fraction=0.0, patience=10_000, seed=seed
        )
        cas_model = train_fcn(
            samples.conditional, samples.conditional_labels, n_classes, recipe,
            progress=progress, description="CAS FCN (synthetic)",
        )
        trtr_model = train_fcn(
            x_train, y_train, n_classes, recipe, progress=progress, description="TRTR FCN (real)"
        )
        metrics["cas"] = accuracy(cas_model, x_test, y_test)
        metrics["trtr"] = accuracy(trtr_model, x_test, y_test)
        notes["n_conditional"] = len(samples.conditional)
        notes["cas_steps"] = config.cas_steps
    return GenerationReport(metrics, notes)

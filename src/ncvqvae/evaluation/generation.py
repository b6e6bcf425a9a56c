"""Scoring generated series against real ones, with floors and spreads.

Two feature spaces: the evaluator FCN (labelled data; IS, FID, CAS as the method papers
report them) and ROCKET (every dataset, labelled or not; as TimeVQVAE's current code).
FIDs are matched-count (:mod:`~ncvqvae.evaluation.matched`): against a floor of two real
halves, over R independently generated sample sets. Beside them: CAS / TRTR by one recipe
(:mod:`~ncvqvae.evaluation.cas`), the discriminative and predictive scores of the
GAN/diffusion literature (:mod:`~ncvqvae.evaluation.post_hoc`), precision / recall /
density / coverage (:mod:`~ncvqvae.evaluation.prdc`), TSGBench's distribution statistics,
and how close samples sit to the training set. Everything is in standardized units; the
counts, recipes and the seconds each group of metrics took are returned as notes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ncvqvae.config import EvaluationConfig
from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.evaluation.cas import classifier_scores
from ncvqvae.evaluation.evaluator import cached_number, data_key
from ncvqvae.evaluation.fcn import FCN, accuracy, extract_features, predict_proba
from ncvqvae.evaluation.matched import Halvings, matched_fid, matched_fid_of_pairs
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
from ncvqvae.evaluation.post_hoc import discriminative_score, predictive_score
from ncvqvae.evaluation.prdc import prdc
from ncvqvae.evaluation.rocket import RocketFeatures
from ncvqvae.model.trained import TrainedModel

ROCKET_SEED = 0  # one ROCKET space for every run of a dataset, whatever the run's seed
# The real-test halvings and the real-only floors do not depend on the run's seed either:
# every run of a dataset is then scored against the same halves, its floors are the same
# numbers (computed once, cached), and two runs' FIDs differ by their samples alone.
FLOOR_SEED = 0
# Bumped whenever a metric's definition changes, so that `compare` can tell.
METRICS_VERSION = 6


@dataclass
class GenerationSamples:
    """Standardized generated series: R unconditional sets (each (N, C, L)) and one
    class-conditional set (M, C, L) with its class indices."""

    unconditional_sets: list[np.ndarray]
    conditional: np.ndarray | None = None
    conditional_labels: np.ndarray | None = None

    @property
    def unconditional(self) -> np.ndarray:
        """The first set: the one plots, IS and the near-copy check look at."""
        return self.unconditional_sets[0]


@dataclass
class GenerationReport:
    """The metrics, how they were measured (counts, recipes), and the seconds each group
    of metrics took (kept apart: timings differ between identical runs)."""

    metrics: dict[str, float | None]
    notes: dict[str, int | float | str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def per_class_counts(y_train: np.ndarray, n_classes: int, minimum_total: int) -> np.ndarray:
    """As many samples per class as the real training set has, scaled up to a total of at
    least ``minimum_total`` so that small datasets still give CAS a usable training set."""
    counts = np.bincount(y_train, minlength=n_classes)
    scale = max(1.0, minimum_total / counts.sum())
    return np.array([math.ceil(c * scale) for c in counts])


def draw_samples(
    model: TrainedModel, data: TimeSeriesDataset, config: EvaluationConfig, *, seed: int, progress: bool = False
) -> GenerationSamples:
    """R unconditional sets of max(n_test, min_samples) series, and one conditional set in
    the training split's class shares (at least min_cas_samples)."""
    n_uncond = max(len(data.x_test), config.min_samples)
    sets = [
        model.sample_standardized(n_uncond, seed=seed + 100 * r, progress=progress) for r in range(config.repeats)
    ]
    if not data.labelled:
        return GenerationSamples(sets)
    counts = per_class_counts(data.y_train, data.n_classes, config.min_cas_samples)
    labels = np.repeat(np.arange(data.n_classes), counts)
    conditional = model.sample_standardized(
        len(labels), class_index=labels, guidance=config.guidance, seed=seed + 1, progress=progress
    )
    return GenerationSamples(sets, conditional, labels)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"))


class _Timer:
    """Seconds spent per group of metrics, for the report's cost table."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], dict]) -> dict:
        start = time.perf_counter()
        out = fn()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return out


def _over_sets(sets: list[np.ndarray], score: Callable[[np.ndarray, int], dict[str, float]]) -> dict[str, float]:
    """Each named score of every generated set -> its mean, and std over sets as NAME_std."""
    per_set = [score(x, r) for r, x in enumerate(sets)]
    out: dict[str, float] = {}
    for name in per_set[0]:
        out[name], out[f"{name}_std"] = _mean_std([s[name] for s in per_set])
    return out


def recon_memorization(x_train: np.ndarray, x_test: np.ndarray, reconstructed_test: np.ndarray) -> dict[str, float]:
    """The memorization scores of the tokenizer's test reconstructions: the part of
    ``near_copy_rate`` that stage 1 causes. A decoder that smooths away the noise of
    unseen series brings them closer to their nearest training series than real unseen
    series are, without copying anything; one that returns them unchanged scores about 0.05."""
    ratio, copies = memorization_scores(x_train, x_test, reconstructed_test)
    return {"nn_train_ratio_recon": ratio, "near_copy_rate_recon": copies}


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
    device: str | torch.device = "cpu",
) -> GenerationReport:
    """Every generation metric; the FCN-based ones only when there is an evaluator.

    Args:
        reconstructed_test: the tokenizer's reconstruction of ``x_test``. Its FID to real
            test (``fid_recon``, on the floor's own halvings) is what a perfect prior could
            reach with this tokenizer: it says whether a poor FID comes from stage 1 or 2.
    """
    sets = samples.unconditional_sets
    timer = _Timer()
    halvings = Halvings.draw(len(x_test), config.halvings, FLOOR_SEED)
    metrics: dict[str, float | None] = {}

    def statistics() -> dict[str, float]:
        def one(fake: np.ndarray, _: int) -> dict[str, float]:
            ratio, copies = memorization_scores(x_train, x_test, fake)
            return {
                "mdd": marginal_distribution_difference(x_test, fake),
                "acd": autocorrelation_difference(x_test, fake),
                "sd": skewness_difference(x_test, fake),
                "kd": kurtosis_difference(x_test, fake),
                "nn_train_ratio": ratio,
                "near_copy_rate": copies,
            }

        out = _over_sets(sets, one)
        if reconstructed_test is not None:
            out |= recon_memorization(x_train, x_test, reconstructed_test)
        return out

    metrics.update(timer.run("distribution statistics and near-copies", statistics))

    rocket_feats: dict[str, np.ndarray] = {}

    def rocket_scores() -> dict[str, float]:
        rocket = RocketFeatures(x_train, n_kernels=config.rocket_kernels, seed=ROCKET_SEED)
        real = rocket(x_test)
        fake = [rocket(x) for x in sets]
        rocket_feats.update(real=real, fake=fake)
        out = matched_fid(real, fake, halvings, seed=seed).as_metrics("rocket_")
        out["rocket_fid_full"], out["rocket_fid_full_std"] = _mean_std([frechet_distance(f, real, warn_few_samples=False) for f in fake])
        if reconstructed_test is not None:
            out["rocket_fid_recon"] = matched_fid_of_pairs(real, rocket(reconstructed_test), halvings)
        return out

    metrics.update(timer.run("ROCKET FID", rocket_scores))

    def post_hoc() -> dict[str, float]:
        steps = config.post_hoc_steps
        out = _over_sets(sets, lambda fake, r: {
            "discriminative_score": discriminative_score(x_test, fake, steps=steps, seed=seed + r, device=device),
            "predictive_score": predictive_score(fake, x_test, x_train, steps=steps, seed=seed + r, device=device),
        })
        a, b = halvings.first[0], halvings.second[0]
        # The floors see real data only: cached, so the runs of a dataset share them.
        out["discriminative_score_real"] = cached_number(
            "discriminative_real", data_key(x_test[a], x_test[b], steps, FLOOR_SEED, METRICS_VERSION),
            lambda: discriminative_score(x_test[a], x_test[b], steps=steps, seed=FLOOR_SEED, device=device),
        )
        out["predictive_score_real"] = cached_number(
            "predictive_real", data_key(x_train, x_test, steps, FLOOR_SEED, METRICS_VERSION),
            lambda: predictive_score(x_train, x_test, x_train, steps=steps, seed=FLOOR_SEED, device=device),
        )
        return out

    metrics.update(timer.run("discriminative and predictive scores", post_hoc))

    notes: dict[str, int | float | str] = {
        "metrics_version": METRICS_VERSION,
        "n_sets": len(sets),
        "n_unconditional": len(sets[0]),
        "n_per_set": halvings.size,
        "halvings": len(halvings.first),
        "n_real_test": len(x_test),
        "n_real_train": len(x_train),
        "post_hoc_steps": config.post_hoc_steps,
        "rocket_kernels": config.rocket_kernels,
        "prdc_features": "evaluator FCN" if evaluator is not None and y_train is not None else "ROCKET",
    }
    if evaluator is None or y_train is None:
        metrics.update(timer.run(
            "precision, recall, density, coverage",
            lambda: _prdc_over_sets(rocket_feats["real"], rocket_feats["fake"], config.prdc_k),
        ))
        return GenerationReport(metrics, notes, _rounded(timer.seconds))

    fcn_feats: dict[str, np.ndarray | list[np.ndarray]] = {}

    def fcn_scores() -> dict[str, float]:
        real = extract_features(evaluator, x_test)
        fake = [extract_features(evaluator, x) for x in sets]
        fcn_feats.update(real=real, fake=fake)
        out = matched_fid(real, fake, halvings, seed=seed).as_metrics("")
        out["fid_full"], out["fid_full_std"] = _mean_std([frechet_distance(f, real, warn_few_samples=False) for f in fake])
        out["is_mean"], out["is_std"] = inception_score(predict_proba(evaluator, sets[0]), n_splits=10)
        if reconstructed_test is not None:
            out["fid_recon"] = matched_fid_of_pairs(real, extract_features(evaluator, reconstructed_test), halvings)
        if samples.conditional is not None:
            feats_cond = extract_features(evaluator, samples.conditional)
            # Does a sample drawn for class c look like class c to the evaluator?
            out["cond_acc"] = accuracy(evaluator, samples.conditional, samples.conditional_labels)
            # The conditional samples come in the training split's class shares, so pooled
            # they are draws from sum_c p(c) p(x | c): beside ``fid`` (the "no class" path)
            # it tells a prior that models each class well but mixes the shares up
            # unconditionally from one that models the classes badly.
            out["fid_conditional"] = frechet_distance(real, feats_cond, warn_few_samples=False)
            out["cfid"] = class_conditional_fid(real, y_test, feats_cond, samples.conditional_labels)
            if reconstructed_test is not None:
                out["per_class"] = per_class_fids(
                    real, y_test, feats_cond, samples.conditional_labels,
                    extract_features(evaluator, reconstructed_test),
                )
        return out

    metrics.update(timer.run("FCN FID and IS", fcn_scores))
    metrics.update(timer.run(
        "precision, recall, density, coverage",
        lambda: _prdc_over_sets(fcn_feats["real"], fcn_feats["fake"], config.prdc_k),
    ))
    if samples.conditional is not None:
        metrics.update(timer.run("CAS and TRTR", lambda: classifier_scores(
            samples.conditional, samples.conditional_labels, x_train, y_train, x_test, y_test,
            n_classes, config, seed=seed, progress=progress, device=device,
        )))
        notes["n_conditional"] = len(samples.conditional)
        notes["cas_recipe"] = (
            f"FCN, Adam 1e-3, batches of at most {config.cas_batch_size}, at most {config.fcn_epochs} "
            f"epochs and {config.cas_steps} steps, early stopping (patience {config.cas_patience} "
            f"epochs) on 20% held out of its own training source; {config.repeats} fits each"
        )
    return GenerationReport(metrics, notes, _rounded(timer.seconds))


def per_class_fids(
    real: np.ndarray, y_real: np.ndarray, conditional: np.ndarray, y_conditional: np.ndarray, reconstructed: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per class index: FID of its class-conditional samples and of the reconstructions of
    its real test series, each against its real test series (small counts: compare the
    two within a class, not across runs)."""
    out: dict[str, dict[str, float]] = {}
    for cls in np.unique(y_real):
        mine = y_real == cls
        if mine.sum() < 2 or (y_conditional == cls).sum() < 2:
            continue
        out[str(int(cls))] = {
            "fid_conditional": frechet_distance(real[mine], conditional[y_conditional == cls], warn_few_samples=False),
            "fid_recon": frechet_distance(real[mine], reconstructed[mine], warn_few_samples=False),
        }
    return out


def _prdc_over_sets(real: np.ndarray, fake_sets: list[np.ndarray], k: int) -> dict[str, float]:
    """PRDC of real test features against as many generated ones from each set (equal
    counts: the k-th neighbour radii depend on the count), mean and std over the sets."""
    n = min(len(real), len(fake_sets[0]))
    if n <= k:
        return {}
    return _over_sets([f[:n] for f in fake_sets], lambda fake, _: prdc(real[:n], fake, k=k))


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 2) for name, value in seconds.items()}

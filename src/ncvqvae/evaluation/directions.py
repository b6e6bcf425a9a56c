"""Which way is better for each metric, in one place for the run report and the study
tables, so that the two never disagree about a score's direction."""

from __future__ import annotations

# A reference (a floor computed from real data alone, the evaluator's own accuracy, TRTR)
# does not depend on the generator: it has no better direction, no bold, no wins and no
# ranks. A metric not listed counts as higher-better.
HIGHER = "higher"
LOWER = "lower"
REFERENCE = "reference"
DIRECTIONS = {
    "tokenizer.probe.svm": HIGHER,
    "tokenizer.probe.knn": HIGHER,
    "tokenizer.recon_mse": LOWER,
    "tokenizer.perplexity": HIGHER,
    "prior.val_masked_acc": HIGHER,
    "generation.fid": LOWER,
    "generation.fid_recon": LOWER,
    "generation.cas": HIGHER,
    "generation.is_mean": HIGHER,
    "generation.cfid": LOWER,
    "generation.near_copy_rate": LOWER,
    "generation.nn_train_ratio": HIGHER,
    "generation.near_copy_rate_recon": LOWER,
    "generation.nn_train_ratio_recon": HIGHER,
    "generation.cas_trtr_ratio": HIGHER,
    "generation.fid_full": LOWER,
    "generation.fid_conditional": LOWER,
    "generation.rocket_fid": LOWER,
    "generation.rocket_fid_full": LOWER,
    "generation.rocket_fid_recon": LOWER,
    "generation.discriminative_score": LOWER,
    "generation.predictive_score": LOWER,
    "generation.precision": HIGHER,
    "generation.recall": HIGHER,
    "generation.density": HIGHER,
    "generation.coverage": HIGHER,
    "generation.cond_acc": HIGHER,
    "generation.mdd": LOWER,
    "generation.acd": LOWER,
    "generation.sd": LOWER,
    "generation.kd": LOWER,
    "evaluator.test_accuracy": REFERENCE,
    "generation.trtr": REFERENCE,
    "generation.fid_real": REFERENCE,
    "generation.rocket_fid_real": REFERENCE,
    "generation.discriminative_score_real": REFERENCE,
    "generation.predictive_score_real": REFERENCE,
    "tokenizer.recon_mse_train": LOWER,
    "reconstruction.fid_recon": LOWER,
    "reconstruction.fid_recon_ratio": LOWER,
    "reconstruction.rocket_fid_recon": LOWER,
    "reconstruction.rocket_fid_recon_ratio": LOWER,
    "reconstruction.near_copy_rate_recon": LOWER,
    "reconstruction.nn_train_ratio_recon": HIGHER,
    "reconstruction.fid_real": REFERENCE,
    "reconstruction.rocket_fid_real": REFERENCE,
}


def direction(metric: str) -> str:
    """``higher``, ``lower`` or ``reference``; a metric not listed counts as higher-better."""
    return DIRECTIONS.get(metric, HIGHER)


def direction_label(metric: str) -> str:
    d = direction(metric)
    return "a reference from real data: no direction" if d == REFERENCE else f"{d} is better"

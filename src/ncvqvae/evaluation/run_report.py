"""What a run's report says, and in which order: the headline figures a researcher reads
first (each with its direction, its floor or reference and its spread), the data, the
grouped table of every metric with its unit, what each metric means, and the plots.

:mod:`~ncvqvae.evaluation.report` turns this into one self-contained HTML file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ncvqvae import __version__
from ncvqvae.evaluation.directions import HIGHER, LOWER


@dataclass(frozen=True)
class HeadlineRow:
    """One headline figure: its value and spread, which way is better, and what to read
    it against."""

    name: str
    value: str
    better: str
    reference: str
    meaning: str


def _pm(metrics: dict[str, Any], key: str, digits: int = 3) -> str | None:
    value = metrics.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    std = metrics.get(f"{key}_std")
    if std is None or not math.isfinite(std):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g} ± {std:.2g}"


def headline_rows(metrics: dict[str, Any]) -> list[HeadlineRow]:
    """The figures that say how good a run is, in the order they should be read."""
    g = metrics.get("generation", {})
    t = metrics.get("tokenizer", {})
    ev = metrics.get("evaluator", {})
    counts = metrics.get("generation_counts", {})
    sets = counts.get("n_sets", "R")
    rows: list[HeadlineRow] = []

    def add(key: str, section: dict, name: str, better: str, reference: str, meaning: str) -> None:
        value = _pm(section, key)
        if value is not None:
            rows.append(HeadlineRow(name, value, better, reference, meaning))

    def ratio(a: str, b: str) -> str:
        if g.get(a) is None or not g.get(b):
            return ""
        return f"; ratio {g[a] / g[b]:.2f}"

    n = counts.get("n_per_set", "?")
    add("fid", g, "FID (evaluator FCN)", LOWER, f"floor (real half vs real half) {_pm(g, 'fid_real')}{ratio('fid', 'fid_real')}",
        f"{n} generated vs {n} real test series, mean ± std over {sets} sample sets")
    add("rocket_fid", g, "FID (ROCKET features)", LOWER, f"floor {_pm(g, 'rocket_fid_real')}{ratio('rocket_fid', 'rocket_fid_real')}",
        "the same protocol in a feature space nobody trained (comparable across packages)")
    add("fid_recon", g, "FID of the tokenizer's reconstructions", LOWER, f"floor {_pm(g, 'fid_real')}{ratio('fid_recon', 'fid_real')}",
        "the best a perfect prior could reach with this tokenizer (stage 1's share of the FID)")
    add("cas", g, "CAS (train on synthetic, test on real)", HIGHER,
        f"TRTR {_pm(g, 'trtr')}; CAS / TRTR {g.get('cas_trtr_ratio', float('nan')):.2f}",
        f"one FCN recipe for both, early-stopped on their own data, {sets} fits each")
    add("discriminative_score", g, "discriminative score", LOWER, f"real vs real {_pm(g, 'discriminative_score_real')}",
        "|accuracy - 0.5| of a post-hoc GRU telling real from synthetic (TimeGAN, Diffusion-TS)")
    add("predictive_score", g, "predictive score (MAE)", LOWER, f"trained on real {_pm(g, 'predictive_score_real')}",
        "next-step GRU trained on synthetic, tested on real (TimeGAN, Diffusion-TS)")
    for key, meaning in (("precision", "share of samples that look real"), ("recall", "share of real data the samples reach"),
                         ("density", "fidelity robust to outliers; 1 for matching data"), ("coverage", "diversity robust to outliers")):
        add(key, g, key, HIGHER, "about 1 for data like real test" if key == "density" else "close to 1 for data like real test", meaning)
    recon_copies = g.get("near_copy_rate_recon")
    add("near_copy_rate", g, "near-copy rate", LOWER, "about 0.05 for new real data"
        + (f"; the tokenizer's reconstructions of unseen series {recon_copies:.2f}" if recon_copies is not None else ""),
        "samples closer to a training series than 95% of real test series are")
    add("is_mean", g, "IS", HIGHER, f"number of classes: {len(metrics.get('classes', {})) or '?'}",
        "spread over 10 splits of one sample set (its usual meaning)")
    add("svm", t.get("probe", {}), "token probe (linear SVM accuracy)", HIGHER, f"evaluator FCN {_pm(ev, 'test_accuracy')}",
        "how linearly separable the classes are in the pooled tokens")
    add("recon_mse", t, "reconstruction MSE (test)", LOWER, "0", "standardized units")
    return rows


def diagnosis(metrics: dict[str, Any], class_names: tuple[str, ...] = ()) -> str:
    """Where the run loses quality, in a sentence or two: stage 1 (its reconstructions
    against the real-data floor) or stage 2 (the samples against the reconstructions),
    and which class loses most."""
    g = metrics.get("generation", {})
    fid, recon, floor = g.get("fid"), g.get("fid_recon"), g.get("fid_real")
    if not all(isinstance(v, (int, float)) for v in (fid, recon, floor)) or floor <= 0:
        return ""
    excess = max(fid - floor, 0.0)
    stage1 = max(min(recon, fid) - floor, 0.0)
    share = stage1 / excess if excess > 0 else 0.0
    text = (
        f"FID is {fid / floor:.1f}x the real-data floor; the tokenizer's reconstructions are "
        f"{recon / floor:.1f}x. "
    )
    if excess <= 0:
        text += "The samples are as close to real test as a real half is."
    elif share >= 0.5:
        text += f"Stage 1 accounts for {share:.0%} of the distance above the floor: improve the tokenizer first."
    else:
        text += f"Stage 2 accounts for {1 - share:.0%} of the distance above the floor: improve the prior first."
    per_class = g.get("per_class") or {}
    if per_class:
        worst = max(per_class, key=lambda c: per_class[c]["fid_conditional"])
        name = class_names[int(worst)] if int(worst) < len(class_names) else worst
        w = per_class[worst]
        where = "its reconstructions already lose" if w["fid_recon"] >= 0.5 * w["fid_conditional"] else "the prior loses"
        text += (
            f" Class {name} is generated worst (per-class FID {w['fid_conditional']:.3g}, its reconstructions "
            f"{w['fid_recon']:.3g}): {where} most of it."
        )
    return text + _copies_diagnosis(g)


def _copies_diagnosis(g: dict[str, Any]) -> str:
    """Whether near-copies come from the prior or from the tokenizer's smoothing, which
    alone brings unseen series close to the training set."""
    copies, recon = g.get("near_copy_rate"), g.get("near_copy_rate_recon")
    if not isinstance(copies, (int, float)) or copies <= 0.10:
        return ""
    text = f" {copies:.0%} of the samples are near-copies of training series (new real data: about 5%)"
    if not isinstance(recon, (int, float)):
        return text + "."
    cause = ("most of that is the tokenizer's smoothing" if recon >= 0.5 * copies
             else "the prior reproduces training series")
    return text + f"; the tokenizer's reconstructions of unseen series are {recon:.0%}: {cause}."


# Every generation metric's group and unit, for the full table.
GROUPS: list[tuple[str, list[str], str]] = [
    ("Fidelity, evaluator FCN features", ["fid", "fid_std", "fid_real", "fid_real_std", "fid_full", "fid_full_std",
                                          "fid_recon", "fid_conditional", "cfid", "is_mean", "is_std", "cond_acc"], "FID: squared feature distance; IS: 1..K; cond_acc: share"),
    ("Fidelity, ROCKET features", ["rocket_fid", "rocket_fid_std", "rocket_fid_real", "rocket_fid_real_std",
                                   "rocket_fid_full", "rocket_fid_full_std", "rocket_fid_recon"], "squared distance of unit-norm features"),
    ("Usefulness: classifiers trained on samples", ["cas", "cas_std", "trtr", "trtr_std", "cas_trtr_ratio"], "accuracy on real test"),
    ("Post-hoc scores of the GAN / diffusion literature", ["discriminative_score", "discriminative_score_std", "discriminative_score_real",
                                                         "predictive_score", "predictive_score_std", "predictive_score_real"], "|acc - 0.5|; MAE of [0, 1]-scaled values"),
    ("Precision, recall, density, coverage", ["precision", "precision_std", "recall", "recall_std", "density", "density_std",
                                              "coverage", "coverage_std"], "shares (density: a ratio)"),
    ("Distribution statistics (TSGBench)", ["mdd", "mdd_std", "acd", "acd_std", "sd", "sd_std", "kd", "kd_std"], "standardized units"),
    ("Novelty", ["nn_train_ratio", "nn_train_ratio_std", "near_copy_rate", "near_copy_rate_std",
                 "nn_train_ratio_recon", "near_copy_rate_recon"], "ratio; share"),
]


def grouped_metrics(metrics: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(group title, unit, {name: value}) for the full table, the rest in their sections."""
    generation = dict(metrics.get("generation", {}))
    groups = []
    for title, names, unit in GROUPS:
        values = {n: generation.pop(n) for n in names if n in generation}
        if values:
            groups.append((title, unit, values))
    if generation:
        groups.append(("Other generation metrics", "", generation))
    for section, unit in (("tokenizer", "standardized units; shares"), ("prior", "cross-entropy (nats); shares"),
                          ("evaluator", "accuracy"), ("generation_counts", "counts; seconds"), ("timing", "seconds")):
        if section in metrics:
            groups.append((section, unit, metrics[section]))
    return groups


def dataset_facts(data: Any, class_counts: dict[str, int] | None) -> dict[str, str]:
    """N train / test, length, channels and the classes with the data's own labels."""
    facts = {
        "dataset": data.name,
        "series (train / test)": f"{len(data.x_train)} / {len(data.x_test)}",
        "length": str(data.length),
        "channels": str(data.n_channels),
    }
    if class_counts:
        facts["classes (label: train count)"] = ", ".join(f"{k}: {v}" for k, v in class_counts.items())
    else:
        facts["classes"] = "unlabelled"
    return facts


def provenance(command: str | None) -> dict[str, str]:
    import platform

    import torch

    from ncvqvae.code_version import code_version

    code = code_version()
    commit = f" (commit {code['commit']}{', modified' if code['modified'] else ''})" if "commit" in code else ""
    return {
        "package": f"ncvqvae {__version__}{commit}",
        "command": command or "called from Python",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def checkpoint_note(config: Any, metrics: dict[str, Any]) -> str:
    """Which weights each stage exported and what chose them, so a reader knows the test
    split played no part in it."""
    fraction = config.data.validation_fraction
    held_out = (
        f"a validation split of {fraction:.0%} of the training split, held out of both stages"
        if fraction > 0
        else "no validation split: the stages trained on the whole training split and their val curves watch the test split, which chose nothing"
    )
    parts = []
    for stage in ("tokenizer", "prior"):
        selection = metrics.get(stage, {}).get("selection") or {}
        if selection.get("rule") == "best":
            parts.append(f"{stage}: step {selection['step']}, the lowest validation loss ({selection['val_loss']:.4g})")
        elif selection:
            parts.append(f"{stage}: the last step ({selection['step']})")
    return f"{held_out.capitalize()}. Exported weights: {'; '.join(parts) or 'n/a'}."


def metric_notes(config: Any, metrics: dict[str, Any]) -> dict[str, str]:
    """How every metric was measured, in words (the report's Notes section)."""
    counts = metrics.get("generation_counts", {})
    acc = metrics.get("evaluator", {}).get("test_accuracy")
    acc_text = "n/a" if acc is None else f"{acc:.3f}"
    sets, n = counts.get("n_sets", "n/a"), counts.get("n_per_set", "n/a")
    return {
        "checkpoints": checkpoint_note(config, metrics),
        "tokenizer": (
            "recon_mse: mean squared error of the reconstruction on the real test split, in "
            "standardized units. perplexity and codebook_usage: code histogram over the whole "
            "training split. probe: linear SVM and 5-NN on average-pooled z_q (MinMax scaled "
            "on train), fit on train, accuracy on test; encoding in eval mode."
        ),
        "prior": (
            "val_masked_acc / val_loss: masked-token prediction on the test split's tokens with "
            "fixed random masks; compare with majority_code_freq. token_kl: KL(real train || "
            "generated) of code usage."
        ),
        "sampling": (
            f"Samples are decoded in T = {config.prior.sampling_steps} steps (Gumbel temperature "
            f"{config.prior.gumbel_temperature:g}, token temperature {config.prior.token_temperature:g}); "
            "class-conditional ones with guidance w = "
            f"{config.evaluation.guidance:g}. {sets} independent unconditional sets of "
            f"{counts.get('n_unconditional', 'n/a')} series each: every score's std is over "
            "these sets (CAS and TRTR: over classifier fits), never a bootstrap of one set."
        ),
        "FID": (
            f"Feature spaces: the package's FCN trained on the real training split (real test "
            f"accuracy {acc_text}), and ROCKET ({counts.get('rocket_kernels', 'n/a')} random "
            "kernels, fixed seed, rows L2-normalised, all channels). Matched counts: real test "
            f"is split into two random halves of {n} series ({counts.get('halvings', 'n/a')} "
            "halvings); fid_real (the floor) is FID(half B, half A); fid compares as many "
            "generated series with half A; fid_recon compares the tokenizer's reconstructions "
            "of half B with half A. fid_full: all generated series of a set against all real "
            "test (the large-sample FID other papers report; biased by the counts). "
            "fid_conditional and cfid: class-conditional samples against all real test, pooled "
            "and per class."
        ),
        "classifiers": (
            f"CAS: FCN trained on {counts.get('n_conditional', 'n/a')} class-conditional "
            "samples, accuracy on real test; TRTR: the same recipe on real train. Recipe: "
            f"{counts.get('cas_recipe', 'n/a')}. cond_acc: the evaluator's accuracy on the "
            "class-conditional samples. IS: spread over 10 splits of one set."
        ),
        "post-hoc": (
            "discriminative_score: a GRU (max(C // 2, 16) units) trained for "
            f"{counts.get('post_hoc_steps', 'n/a')} Adam steps to tell real test from samples "
            "(balanced, 80/20 split), |held-out accuracy - 0.5|; _real: the same between two "
            "halves of real test. predictive_score: a GRU trained on samples to predict the next "
            "value (univariate: from the series' own past; multivariate: the last channel from "
            "the others, as TimeGAN), MAE on real test after min-max scaling to [0, 1]; "
            "_real: trained on real train."
        ),
        "coverage": (
            f"precision / recall / density / coverage (Naeem et al. 2020, k = "
            f"{config.evaluation.prdc_k}) on {counts.get('prdc_features', 'n/a')} features, real "
            "test against as many samples."
        ),
        "statistics": (
            "mdd, acd, sd, kd: marginal-distribution, autocorrelation, skewness and kurtosis "
            "differences (real test vs unconditional samples, standardized units). "
            "nn_train_ratio: median Euclidean distance of samples to their nearest training "
            "series over the same for real test series (1: as novel as new real data, 0: "
            "copies); near_copy_rate: share of samples closer to a training series than 95% of "
            "real test series are (about 0.05 for new real data). FID does not see copying."
        ),
        "cost": "Seconds per group of metrics: " + (
            "; ".join(f"{k} {v:.1f} s" for k, v in metrics.get("timing", {}).get("metrics_s", {}).items()) or "n/a"
        ) + ".",
    }

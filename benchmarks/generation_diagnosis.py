"""Where does a run's FID come from: the tokenizer, the prior, or the class balance?

    python benchmarks/generation_diagnosis.py runs/GunPoint-barlowtwins-seed0

Loads a run folder and its cached evaluator and prints, in the evaluator's
feature space:
- FID split into its mean term ||mu - mu'||^2 and its covariance term, for real train,
  the tokenizer's reconstructions (train and test), and unconditional samples, each
  against real test (plus samples against reconstructed train: the prior's own error);
- per class, how often the evaluator recognises real series, their reconstructions, and
  class-conditional samples, and the class shares among unconditional samples;
- for a two-band tokenizer, the same scores when the high band is sampled on the real
  low band, which isolates the high-band prior from the low-band one;
- the class of each unconditional sample read two ways: by the evaluator, and by a
  logistic regression on its tokens (the low band's for a two-band tokenizer) fit on
  the training split. Where the token reader finds the right class mix and the
  evaluator does not, the samples have the coarse shape of a class without the detail
  the evaluator recognises it by. Both readings are repeated with the decoding order
  made random (Gumbel temperature 1e4), which tells whether confidence-ordered decoding
  skews the mix, and for any other numbers of decoding steps given (``--sampling-steps``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from run_data import load_run_data
from sklearn.linear_model import LogisticRegression

from ncvqvae.evaluation.fcn import FCN, extract_features, predict_proba
from ncvqvae.evaluation.metrics import frechet_distance
from ncvqvae.evaluation.tokens import encode_split
from ncvqvae.model.trained import TrainedModel, load_run, tokenize_series
from ncvqvae.prior.sampling import decode_tokens
from ncvqvae.prior.two_band import TwoBandPrior


def fid_terms(feats_a: np.ndarray, feats_b: np.ndarray) -> tuple[float, float, float]:
    """(FID, mean term, covariance term)."""
    total = frechet_distance(feats_a, feats_b, warn_few_samples=False)
    mean_term = float(((feats_a.mean(0) - feats_b.mean(0)) ** 2).sum())
    return total, mean_term, total - mean_term


def per_class_recognition(evaluator: FCN, x: np.ndarray, y: np.ndarray, n_classes: int) -> str:
    predicted = predict_proba(evaluator, x).argmax(1)
    return "  ".join(f"{np.mean(predicted[y == c] == c):.3f}" for c in range(n_classes))


def high_band_on_real_low(model: TrainedModel, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Decode real low-band tokens with high-band tokens sampled by the prior."""
    prior = model.prior
    assert isinstance(prior, TwoBandPrior)
    with torch.inference_mode():
        low, _ = prior.split(model.tokenizer.tokenize(torch.from_numpy(x)))
        high = decode_tokens(
            prior.high,
            len(low),
            class_labels=torch.from_numpy(y),
            steps=model.sampling_steps,
            temperature=model.gumbel_temperature,
            generator=torch.Generator().manual_seed(seed),
            context=prior.context(low),
        )
        tokens = torch.cat([low, high + prior.codebook_size], dim=1)
        return model.tokenizer.detokenize(tokens).numpy()


class TokenClassReader:
    """Reads a series' class from its tokens alone: a logistic regression on one-hot codes
    (the low band's for a two-band tokenizer), which sees the coarse shape a token
    sequence encodes and none of the fine detail the evaluator's small kernels see."""

    def __init__(self, model: TrainedModel, x_train: np.ndarray, y_train: np.ndarray) -> None:
        self.model = model
        self.classifier = LogisticRegression(max_iter=2000).fit(self._one_hot(x_train), y_train)

    def _one_hot(self, x: np.ndarray) -> np.ndarray:
        tokens = tokenize_series(self.model.tokenizer, x)
        if isinstance(self.model.prior, TwoBandPrior):
            tokens = self.model.prior.split(tokens)[0]
        codes = self.model.prior.codebook_size
        return np.eye(codes)[tokens.numpy()].reshape(len(tokens), -1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.predict(self._one_hot(x))


def class_readings(
    evaluator: FCN, reader: TokenClassReader, samples: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(evaluator's shares, token reader's shares, counts[token class, evaluator class])."""
    by_evaluator = predict_proba(evaluator, samples).argmax(1)
    by_tokens = reader.predict(samples)
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (by_tokens, by_evaluator), 1)
    return (
        np.bincount(by_evaluator, minlength=n_classes) / len(samples),
        np.bincount(by_tokens, minlength=n_classes) / len(samples),
        counts,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (with only a tokenizer: its part only)")
    parser.add_argument("--n", type=int, default=1024, help="unconditional samples")
    parser.add_argument("--per-class", type=int, default=256, help="class-conditional samples per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sampling-steps", default="", help="comma-separated decoding steps T to compare with the run's"
    )
    args = parser.parse_args()

    run_data = load_run_data(args.run)
    config, data, evaluator = run_data.config, run_data.data, run_data.evaluator
    x_train, x_test = run_data.x_train, run_data.x_test
    model = load_run(args.run)
    has_prior = model.prior is not None
    recon_train = encode_split(model.tokenizer, x_train).reconstruction
    recon_test = encode_split(model.tokenizer, x_test).reconstruction
    samples = model.sample_standardized(args.n, seed=args.seed) if has_prior else None

    def features(x: np.ndarray) -> np.ndarray:
        return extract_features(evaluator, x)

    test_feats = features(x_test)
    print(f"{args.run}: {data.name}, {config.tokenizer.kind}, ssl {config.ssl.method}")
    print(f"{'FID against real test':<44}{'FID':>8}{'mean':>8}{'cov':>8}")
    rows = [
        ("real train (the floor)", features(x_train), test_feats),
        ("reconstructed train", features(recon_train), test_feats),
        ("reconstructed test (fid_recon)", features(recon_test), test_feats),
    ]
    if has_prior:
        rows += [
            ("unconditional samples (fid)", features(samples), test_feats),
            ("samples vs reconstructed train (prior only)", features(samples), features(recon_train)),
        ]
    for name, a, b in rows:
        total, mean_term, cov_term = fid_terms(a, b)
        print(f"{name:<44}{total:8.3f}{mean_term:8.3f}{cov_term:8.3f}")

    if not data.labelled:
        return
    n_classes = data.n_classes
    print(f"\nevaluator accuracy per class ({' '.join(str(c) for c in range(n_classes))})")
    print(f"{'real test':<44}{per_class_recognition(evaluator, x_test, data.y_test, n_classes)}")
    print(f"{'reconstructed train':<44}{per_class_recognition(evaluator, recon_train, data.y_train, n_classes)}")
    print(f"{'reconstructed test':<44}{per_class_recognition(evaluator, recon_test, data.y_test, n_classes)}")
    if not has_prior:
        print("\n(no prior in this run folder yet: the tokenizer's part only)")
        return
    labels = np.repeat(np.arange(n_classes), args.per_class)
    conditional = model.sample_standardized(len(labels), class_index=labels, seed=args.seed + 1)
    print(f"{'class-conditional samples':<44}{per_class_recognition(evaluator, conditional, labels, n_classes)}")
    if isinstance(model.prior, TwoBandPrior):
        repeats = max(1, args.per_class * n_classes // len(x_train))
        x_rep, y_rep = np.tile(x_train, (repeats, 1, 1)), np.tile(data.y_train, repeats)
        mixed = high_band_on_real_low(model, x_rep, y_rep, args.seed)
        print(f"{'real low band + sampled high band':<44}{per_class_recognition(evaluator, mixed, y_rep, n_classes)}"
              f"   FID {fid_terms(features(mixed), test_feats)[0]:.3f}")
    real_shares = np.bincount(data.y_train, minlength=n_classes) / len(data.y_train)
    reader = TokenClassReader(model, x_train, data.y_train)
    agreement = np.mean(reader.predict(x_test) == predict_proba(evaluator, x_test).argmax(1))
    print(f"\nclass shares of unconditional samples (real train: {np.round(real_shares, 3).tolist()})")
    print(f"token reader: test accuracy {np.mean(reader.predict(x_test) == data.y_test):.3f},"
          f" agrees with the evaluator on {agreement:.3f} of real test")
    print(f"{'decoding':<28}{'FID':>8}  {'by evaluator':<16}{'by tokens':<16}counts[token class][evaluator class]")
    orders = [(f"confidence, T = {model.sampling_steps} (run's)", samples)]
    for steps in (int(v) for v in args.sampling_steps.split(",") if v):
        orders.append((f"confidence, T = {steps}", model.sample_standardized(args.n, seed=args.seed, steps=steps)))
    random_model = dataclasses.replace(model, gumbel_temperature=1e4)  # same networks
    orders.append((f"random order, T = {random_model.sampling_steps}", random_model.sample_standardized(args.n, seed=args.seed)))
    for name, x in orders:
        by_evaluator, by_tokens, counts = class_readings(evaluator, reader, x, n_classes)
        print(f"{name:<28}{fid_terms(features(x), test_feats)[0]:8.3f}  "
              f"{str(np.round(by_evaluator, 3).tolist()):<16}{str(np.round(by_tokens, 3).tolist()):<16}"
              f"{counts.tolist()}")


if __name__ == "__main__":
    main()

"""How much of a tokenizer's reconstruction FID is missing noise? An oracle bound.

    ncvqvae tokenizer --dataset CBF --data-dir ../shared/data/UCRArchive_2018 \\
        --tokenizer timevqvae --set tokenizer.high_width=16 --steps 400 --out runs/cbf-400
    python benchmarks/reconstruction_noise_oracle.py runs/cbf-400

A VQ decoder returns the mean of what a code stands for, so a noisy dataset's
reconstructions lack the noise its real series carry. This script adds Gaussian noise
with the residual's own power spectrum to the test reconstructions and scores them as
``fid_recon`` is scored (evaluator features, the floor's halvings): once with the
spectrum of the training residual (what a run could use; small where the tokenizer has
memorised its training series) and once with the test residual's (an oracle no run may
use: it bounds what any decoder noise model could gain). A diagnostic, not a method.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ncvqvae.config import load_config
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.evaluator import get_evaluator
from ncvqvae.evaluation.fcn import extract_features
from ncvqvae.evaluation.generation import FLOOR_SEED
from ncvqvae.evaluation.matched import Halvings, floor_of, matched_fid_of_pairs
from ncvqvae.evaluation.tokens import encode_split
from ncvqvae.model.trained import load_tokenizer
from ncvqvae.pipeline import load_data


def residual_spectrum(residual: np.ndarray) -> np.ndarray:
    """Mean power per frequency of (N, C, L) residuals: (C, L // 2 + 1)."""
    return (np.abs(np.fft.rfft(residual, axis=-1)) ** 2).mean(axis=0)


def noise_like(spectrum: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """n Gaussian series whose expected power spectrum is ``spectrum``."""
    shape = (n, *spectrum.shape)
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return np.fft.irfft(z * np.sqrt(spectrum / 2), n=length, axis=-1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with a trained tokenizer")
    args = parser.parse_args()
    config = load_config(args.run / "config.yaml")
    data = load_data(config)
    scale = Standardizer.fit(data.x_train)
    x_train, x_test = scale.transform(data.x_train), scale.transform(data.x_test)
    tokenizer, _ = load_tokenizer(args.run / "tokenizer.pt")
    with torch.inference_mode():
        recon_train = encode_split(tokenizer, x_train).reconstruction
        recon_test = encode_split(tokenizer, x_test).reconstruction
    evaluator = get_evaluator(
        data.name, x_train, data.y_train, x_test, data.y_test, data.n_classes,
        config.evaluation, seed=0, progress=False,
    )
    real = extract_features(evaluator.model, x_test)
    split = Halvings.draw(len(x_test), config.evaluation.halvings, FLOOR_SEED)
    floor, _ = floor_of(real, split)

    def fid(x: np.ndarray) -> float:
        return matched_fid_of_pairs(real, extract_features(evaluator.model, x), split)

    mse_train = float(((recon_train - x_train) ** 2).mean())
    mse_test = float(((recon_test - x_test) ** 2).mean())
    print(f"{data.name}: {len(x_train)} training series; recon MSE train {mse_train:.4f}, test {mse_test:.4f}")
    print(f"floor {floor:.4f}; reconstructions {fid(recon_test) / floor:.1f}x the floor")
    rng = np.random.default_rng(0)
    for name, residual in (("training residual", x_train - recon_train), ("test residual (oracle)", x_test - recon_test)):
        noisy = recon_test + noise_like(residual_spectrum(residual), len(recon_test), x_test.shape[-1], rng)
        print(f"+ noise with the {name}'s spectrum: {fid(noisy) / floor:.1f}x the floor")


if __name__ == "__main__":
    main()

"""What the tokenizer's tokens are worth: reconstruction, codebook use, and linear probes.

All encoding here runs in eval mode under ``no_grad``: measuring must never change the
codebook's EMA statistics or BatchNorm's running statistics (the reference code encoded
probe data in training mode, which quietly trains on the test split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import SVC

from ncvqvae.tokenizer.objective import Tokenizer


@dataclass
class EncodedSplit:
    """tokens: (N, N_tok) codes; pooled: (N, d) average of z_q over the grid;
    reconstruction: (N, C, L) the decoded series, standardized."""

    tokens: np.ndarray
    pooled: np.ndarray
    recon_mse: float
    reconstruction: np.ndarray


@torch.no_grad()
def encode_split(tokenizer: Tokenizer, x: np.ndarray, batch: int = 256) -> EncodedSplit:
    """Encode standardized series (N, C, L) without touching any running statistic."""
    was_training = tokenizer.training
    tokenizer.eval()
    device = next(tokenizer.parameters()).device
    tokens, pooled, decoded, sq_err = [], [], [], 0.0
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch]).to(device)
        out = tokenizer(xb)
        tokens.append(out.tokens.flatten(1).cpu())
        pooled.append(out.z_q.mean(dim=(2, 3)).cpu())
        sq_err += float(((out.x_hat - xb) ** 2).sum())
        decoded.append(out.x_hat.cpu())
    tokenizer.train(was_training)
    return EncodedSplit(
        tokens=torch.cat(tokens).numpy(),
        pooled=torch.cat(pooled).numpy(),
        recon_mse=sq_err / x.size,
        reconstruction=torch.cat(decoded).numpy(),
    )


def code_usage(tokens: np.ndarray, codebook_size: int) -> np.ndarray:
    """Relative frequency of each code over every position of every sequence: (K,)."""
    counts = np.bincount(tokens.ravel(), minlength=codebook_size).astype(np.float64)
    return counts / counts.sum()


def perplexity(usage: np.ndarray) -> float:
    """exp(entropy) of the usage distribution: the effective number of codes in use."""
    p = usage[usage > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def fraction_used(usage: np.ndarray) -> float:
    return float((usage > 0).mean())


def fit_linear_probes(
    train_features: np.ndarray,
    y_train: np.ndarray,
    test_features: np.ndarray,
    y_test: np.ndarray,
    *,
    n_neighbors: int = 5,
) -> dict[str, float]:
    """Test accuracy of a linear SVM and a k-NN classifier fit on train features.

    MinMax scaling uses train statistics only; the linear kernel keeps the probe a
    measure of how linearly separable the token representation is.
    """
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(train_features)
    f_train, f_test = scaler.transform(train_features), scaler.transform(test_features)
    svm = SVC(kernel="linear").fit(f_train, y_train)
    knn = KNeighborsClassifier(n_neighbors=min(n_neighbors, len(f_train))).fit(f_train, y_train)
    return {
        "svm": float((svm.predict(f_test) == y_test).mean()),
        "knn": float((knn.predict(f_test) == y_test).mean()),
    }

"""The evaluator classifier: a fully convolutional network (FCN) for time series.

IS, FID and CAS all need a classifier that "understands" the data. Following the
TimeVQVAE / NC-VQVAE evaluation protocol we use the FCN of Wang, Yan and Oates (2017):
three Conv1d-BatchNorm-ReLU blocks, global average pooling to a 128-d feature, and a
linear head. Training lives in :mod:`~ncvqvae.evaluation.fcn_training`, the cache of
trained evaluators in :mod:`~ncvqvae.evaluation.evaluator`.

    probs = predict_proba(model, x_gen)        # (N, K) for IS
    feats = extract_features(model, x_gen)     # (N, 128) for FID
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

FEATURE_DIM = 128


def _conv_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv1d with "same" padding, BatchNorm, ReLU; keeps the length L.

    The padding is explicit (left (k-1)//2, the rest right: what ``padding="same"`` does)
    because torch's "same" warns about an internal copy for the even kernel of 8 on every
    call.
    """
    left = (kernel_size - 1) // 2
    return nn.Sequential(
        nn.ConstantPad1d((left, kernel_size - 1 - left), 0.0),
        nn.Conv1d(in_channels, out_channels, kernel_size),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
    )


class FCN(nn.Module):
    """Fully convolutional classifier; its pooled activations are the FID features.

    Args:
        in_channels: C, the number of channels of the series.
        n_classes: K, the number of classes.
    """

    def __init__(self, in_channels: int, n_classes: int) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 1:
            raise ValueError(
                f"FCN needs in_channels >= 1 and n_classes >= 1, got {in_channels} and "
                f"{n_classes}"
            )
        self.in_channels = in_channels
        self.n_classes = n_classes
        self.body = nn.Sequential(
            _conv_block(in_channels, 128, 8),
            _conv_block(128, 256, 5),
            _conv_block(256, FEATURE_DIM, 3),
        )
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, L) -> globally average-pooled features (B, 128)."""
        return self.body(x).mean(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, L) -> logits (B, K)."""
        return self.head(self.features(x))


def _run_batched(
    model: FCN, x: np.ndarray, batch_size: int, fn: Callable[[torch.Tensor], torch.Tensor],
    width: int,
) -> np.ndarray:
    """Apply ``fn`` (the model or one of its methods) to x: (N, C, L) -> (N, width).

    Batches bound the memory; the model is put in eval mode so BatchNorm uses its running
    statistics and the result does not depend on the batch size.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"series must have shape (N, C, L), got shape {x.shape}")
    model.eval()
    device = next(model.parameters()).device
    outputs = [np.zeros((0, width), dtype=np.float32)]
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            chunk = torch.from_numpy(x[start : start + batch_size]).to(device)
            outputs.append(fn(chunk).float().cpu().numpy())
    return np.concatenate(outputs)


def predict_proba(model: FCN, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities p(y | x): x (N, C, L) -> (N, K) float32; sets eval mode."""
    logits = _run_batched(model, x, batch_size, model, model.n_classes)
    return torch.softmax(torch.from_numpy(logits).double(), dim=1).float().numpy()


def extract_features(model: FCN, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Pooled 128-d FCN features (FID's feature space): x (N, C, L) -> (N, 128) float32."""
    return _run_batched(model, x, batch_size, model.features, FEATURE_DIM)


def accuracy(model: FCN, x: np.ndarray, y: np.ndarray) -> float:
    """Share of series in x: (N, C, L) whose most probable class equals y: (N,)."""
    y = np.asarray(y)
    if len(y) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((predict_proba(model, x).argmax(axis=1) == y).mean())



"""The scores the GAN and diffusion literature reports for generated time series, so that
this package's numbers can be put beside theirs:

- discriminative score (TimeGAN: Yoon, Jarrett and van der Schaar, NeurIPS 2019; used by
  Diffusion-TS, Yuan and Qiao, ICLR 2024, and TSGBench): a post-hoc GRU classifier of
  real vs synthetic, trained on 80% of a balanced set and tested on the other 20%;
  |accuracy - 0.5|, 0 when the two cannot be told apart, 0.5 when always;
- predictive score (same sources): a post-hoc GRU trained on synthetic series to
  predict the next value, its mean absolute error on real series ("train on synthetic,
  test on real" for forecasting). TimeGAN predicts the last channel from the others, so
  it needs two channels or more; for univariate data the GRU predicts the series' next
  value from its own past instead. As in TimeGAN, values are min-max scaled to [0, 1]
  (with the real training split's range) before the MAE.

Our departures from TimeGAN's code (each explained where it is set): batches of 128 for
both GRUs, the predictor's learning rate; the GRU has max(C // 2, 16) units (TimeGAN's C // 2
is 0 for a univariate series); the discriminator reads the mean of the GRU's states over
time rather than its last state, with Adam at 5e-3: on ECG200, real series against
Gaussian noise, the last-state classifier at TimeGAN's 1e-3 scored between 0.09 and 0.33
after 300 to 1000 steps depending on the seed, the averaged one 0.5 (perfect) after 300
steps for every seed. The discriminator's inputs are standardized with the real set's
per-channel mean and std, not min-max scaled: min-max squeezed GunPoint into a band the
GRU did not resolve in 200 steps (real vs Gaussian noise scored 0.08 at seed 0 and 0.02
for real vs shuffled-in-time, as for two halves of real data), standardized inputs score
0.45 to 0.5 on both at every seed tried. Its held-out fifth is class-balanced, so a
classifier that learns nothing scores 0 rather than the split's imbalance. Both GRUs
train for a fixed number of Adam steps given by the config (TimeGAN: 2000 for the
discriminator, 5000 for the predictor), which bounds the cost of evaluating on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# A 16-unit GRU's step costs about the same at 128 series as at 64 on a CPU (it is bound by
# the sequential pass over time, not by the batch): half the steps at twice the batch see as
# many series in about half the time. TimeGAN uses 128 too.
BATCH = 128
# The next-step predictor learns at 1e-2, not TimeGAN's 1e-3: at 1e-3 and the cpu preset's
# 100 steps it stayed near its starting point (GunPoint, trained and tested on real data:
# MAE 0.138, against 0.187 when trained on time-shuffled series); at 1e-2 it reaches
# 0.009-0.011 there (0.029-0.030 on ECG200, 0.020-0.024 on TwoLeadECG, 0.049 on
# ItalyPowerDemand; two seeds), so the score measures the data rather than the optimiser.
PREDICTOR_LR = 1e-2


class _GRUHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, in_dim) -> (per-step outputs (B, T, out), output of the time-averaged
        state (B, out))."""
        states, _ = self.gru(x)
        return self.head(states), self.head(states.mean(dim=1))


def _hidden(channels: int) -> int:
    return max(channels // 2, 16)


def _time_major(x: np.ndarray) -> torch.Tensor:
    """(N, C, L) -> (N, L, C) float32, the layout a GRU reads."""
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 2, 1)), dtype=np.float32))


def _minmax(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return (x - low) / np.maximum(high - low, 1e-12)


def discriminative_score(real: np.ndarray, fake: np.ndarray, *, steps: int, seed: int, device: str | torch.device = "cpu") -> float:
    """real (N, C, L), fake (M, C, L) -> |held-out accuracy - 0.5| of a GRU classifier."""
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake))
    real = real[rng.choice(len(real), n, replace=False)]
    fake = fake[rng.choice(len(fake), n, replace=False)]
    mean, std = real.mean(axis=(0, 2), keepdims=True), real.std(axis=(0, 2), keepdims=True)
    x = _time_major((np.concatenate([real, fake]) - mean) / np.maximum(std, 1e-12)).to(device)
    y = torch.cat([torch.ones(n), torch.zeros(n)]).to(device)
    # The same share of each side held out (index i is real, n + i its synthetic peer).
    n_test = max(1, round(0.2 * n)) if n > 1 else 0
    real_order, fake_order = rng.permutation(n), n + rng.permutation(n)
    test = torch.from_numpy(np.concatenate([real_order[:n_test], fake_order[:n_test]]))
    train = torch.from_numpy(rng.permutation(np.concatenate([real_order[n_test:], fake_order[n_test:]])))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _GRUHead(x.shape[2], _hidden(x.shape[2]), 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        batch = train[torch.randint(len(train), (min(BATCH, len(train)),), generator=generator)].to(device)
        logits = model(x[batch])[1].squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits, y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        test = test.to(device)
        accuracy = ((model(x[test])[1].squeeze(-1) > 0).float() == y[test]).float().mean().item()
    return abs(accuracy - 0.5)


def _forecasting_pairs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, L, C) -> inputs (N, L - 1, C_in) and next-step targets (N, L - 1, 1)."""
    if x.shape[2] >= 2:  # TimeGAN: the last channel's next value from the other channels
        return x[:, :-1, :-1], x[:, 1:, -1:]
    return x[:, :-1], x[:, 1:]  # univariate: the next value from the series' own past


def predictive_score(
    train: np.ndarray, test: np.ndarray, scale_from: np.ndarray, *, steps: int, seed: int, device: str | torch.device = "cpu"
) -> float:
    """Train a next-step GRU on ``train`` (N, C, L), return its MAE on ``test`` (M, C, L),
    both min-max scaled with the range of ``scale_from`` (the real training split)."""
    low, high = scale_from.min(axis=(0, 2), keepdims=True), scale_from.max(axis=(0, 2), keepdims=True)
    x_train, y_train = _forecasting_pairs(_time_major(_minmax(train, low, high)).to(device))
    x_test, y_test = _forecasting_pairs(_time_major(_minmax(test, low, high)).to(device))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _GRUHead(x_train.shape[2], _hidden(x_train.shape[2] + 1), 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=PREDICTOR_LR)
    model.train()
    for _ in range(steps):
        batch = torch.randint(len(x_train), (min(BATCH, len(x_train)),), generator=generator).to(device)
        loss = F.l1_loss(model(x_train[batch])[0], y_train[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        errors = [
            F.l1_loss(model(x_test[i : i + 512])[0], y_test[i : i + 512], reduction="sum").item()
            for i in range(0, len(x_test), 512)
        ]
    return float(sum(errors) / y_test.numel())

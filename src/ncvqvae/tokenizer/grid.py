"""Which tokens a stretch of time touches: from missing samples to masked token columns.

A token at column w of a grid with stride s stands for STFT frames [w s, (w + 1) s), and
frame j (centred, hop h, window n_fft) is computed from samples [j h - n_fft/2,
j h + n_fft/2). A token whose frames see any missing sample is "touched": imputation
masks it and lets the prior decode it. Every frequency row of a touched column is
touched, since all rows of a frame come from the same samples.
"""

from __future__ import annotations

import torch
from torch import Tensor


def frames_touched(missing: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """missing: (B, L) bool -> (B, T) bool, T = L // hop + 1 frames."""
    batch, length = missing.shape
    n_frames = length // hop + 1
    half = n_fft // 2
    # A prefix sum answers "any missing sample in [a, b)" for every frame at once.
    counts = torch.nn.functional.pad(missing.long().cumsum(dim=1), (1, 0))
    centres = torch.arange(n_frames, device=missing.device) * hop
    start = (centres - half).clamp(0, length)
    stop = (centres + half).clamp(0, length)
    return (counts[:, stop] - counts[:, start]) > 0


def columns_touched(frames: Tensor, *, stride: int, width: int) -> Tensor:
    """frames: (B, T) bool -> (B, width) bool; column w covers frames [w s, (w + 1) s)."""
    batch, n_frames = frames.shape
    padded = torch.zeros(batch, width * stride, dtype=torch.bool, device=frames.device)
    padded[:, : min(n_frames, width * stride)] = frames[:, : width * stride]
    return padded.view(batch, width, stride).any(dim=2)


def grid_touched(missing: Tensor, *, n_fft: int, hop: int, stride: int, grid: tuple[int, int]) -> Tensor:
    """missing: (B, C, L) bool -> (B, F * W) bool, row-major like the token sequence."""
    frames = frames_touched(missing.any(dim=1), n_fft=n_fft, hop=hop)
    columns = columns_touched(frames, stride=stride, width=grid[1])
    return columns[:, None, :].expand(-1, grid[0], -1).reshape(missing.shape[0], -1)

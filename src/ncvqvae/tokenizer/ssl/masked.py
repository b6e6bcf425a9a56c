"""Masked prediction of a teacher's latents: data2vec (Baevski, Hsu, Xu, Babu, Gu and
Auli, "data2vec: A General Framework for Self-supervised Learning in Speech, Vision and
Language", ICML 2022), on the tokenizer's latent grid.

The student (the online encoder) sees the series with random stretches of time masked;
the teacher (an EMA of the encoder) sees it whole. The student regresses, at the grid
positions the masked stretches cover, the teacher's layer-normalised average of its last
``top_k`` blocks' outputs. The EMA teacher and the regression of a moving target are what
keep the representation from collapsing (a constant would be a fixed point only if the
teacher were constant too, and layer normalisation removes the trivial one).

How spans map onto the grid: a span of samples touches every STFT frame whose window
(n_fft samples around its centre) overlaps it; those frames of the student's input are
replaced by a learned mask value; a grid column stands for ``stride`` consecutive frames,
and a column is predicted when any of its frames was masked (every frequency row of it),
which is exactly the tokens imputation would mask (:mod:`ncvqvae.tokenizer.grid`).

The target is z, the continuous pre-quantization latent, not z_q: z_q can take only K
values per position, so regressing it would ask the student to reproduce the codebook's
quantization boundaries and would carry almost no gradient where the teacher's latents
sit between codewords; data2vec regresses continuous teacher representations for the
same reason. The loss reaches the encoder the tokens come from, so the semantics still
end up in the codes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncvqvae.collectives import global_count, world_size
from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.grid import columns_touched, frames_touched
from ncvqvae.tokenizer.ssl.base import SSLBatch, SSLBranch, SSLLossOutput
from ncvqvae.tokenizer.ssl.ema import EMATeacher, ema_decay


def random_spans(batch: int, length: int, *, mask_ratio: float, span_ratio: float, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """(B, L) bool: ceil(mask_ratio / span_ratio) spans of round(span_ratio L) samples per
    series at uniform random starts (they may overlap, as data2vec's do)."""
    width = max(1, round(span_ratio * length))
    n_spans = math.ceil(mask_ratio / span_ratio)
    starts = torch.randint(0, max(length - width, 0) + 1, (batch, n_spans), generator=generator, device=device)
    steps = torch.arange(length, device=device)
    inside = (steps[None, None, :] >= starts[..., None]) & (steps[None, None, :] < starts[..., None] + width)
    return inside.any(dim=1)


def block_outputs(encoder: nn.Module, u: Tensor) -> list[Tensor]:
    """Every layer output of the encoder's stack, in order: the teacher's "blocks"."""
    missing = -u.shape[-1] % encoder.stride
    x = F.pad(u, (0, missing, 0, 0), mode="replicate") if missing else u
    outputs = []
    for layer in encoder.net:
        x = layer(x)
        outputs.append(x)
    return outputs


def layer_norm_channels(z: Tensor) -> Tensor:
    """Normalise each grid position's D-vector (no learned scale): z (B, D, H, W)."""
    return F.layer_norm(z.movedim(1, -1), (z.shape[1],)).movedim(-1, 1)


def data2vec_target(blocks: list[Tensor], top_k: int) -> Tensor:
    """Layer-normalised average of the layer-normalised last top_k blocks: (B, D, H, W)."""
    top = [layer_norm_channels(b) for b in blocks[-top_k:]]
    return layer_norm_channels(torch.stack(top).mean(dim=0))


class Data2VecBranch(SSLBranch):
    needs_augmented_view = False

    def __init__(self, config: SSLConfig, tokenizer: nn.Module) -> None:
        super().__init__()
        self.settings = config.data2vec
        self.weight = config.method_weight
        encoder = tokenizer.ssl_encoder
        width = encoder.net[-1].out_channels
        in_channels = encoder.net[0].in_channels
        self.mask_value = nn.Parameter(torch.zeros(1, in_channels, 1, 1))
        self.regression = nn.Conv2d(width, width, kernel_size=1)
        self.teacher = EMATeacher(encoder)

    def masked_frames(self, x: Tensor, tokenizer: nn.Module, generator: torch.Generator | None) -> Tensor:
        """(B, T) bool: the STFT frames that random spans of x touch."""
        spans = random_spans(x.shape[0], x.shape[-1], mask_ratio=self.settings.mask_ratio,
                             span_ratio=self.settings.span_ratio, generator=generator, device=x.device)
        return frames_touched(spans, n_fft=tokenizer.stft.n_fft, hop=tokenizer.stft.hop_length)

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        tokenizer, s = batch.tokenizer, self.settings
        u = tokenizer.ssl_input(batch.x)  # (B, 2C, F, T)
        frames = self.masked_frames(batch.x, tokenizer, batch.generator)
        u_student = torch.where(frames[:, None, None, :], self.mask_value.to(u.dtype), u)
        z_student = self.regression(tokenizer.ssl_encoder(u_student))  # (B, D, H, W)
        with torch.no_grad():
            target = data2vec_target(block_outputs(self.teacher.net, u), s.top_k)
        columns = columns_touched(frames, stride=tokenizer.ssl_encoder.stride, width=z_student.shape[-1])
        where = columns[:, None, None, :].expand(-1, z_student.shape[1], z_student.shape[2], -1)
        if s.loss_beta > 0:
            errors = F.smooth_l1_loss(z_student[where], target[where], beta=s.loss_beta, reduction="sum")
        else:
            errors = F.mse_loss(z_student[where], target[where], reduction="sum")
        # The mean over every masked position of the global batch. Ranks mask different
        # numbers of positions, so a mean per rank would weigh them unequally; each rank's
        # share is scaled so that DDP's averaging over W ranks gives the global mean.
        count = global_count(int(where.sum()), errors).detach().clamp(min=1.0)
        loss = errors * world_size() / count
        return SSLLossOutput(loss=loss, terms={"data2vec": loss.detach()})

    def after_optimizer_step(self, tokenizer: nn.Module, step: int, total_steps: int) -> None:
        decay = ema_decay("linear", self.settings.ema_decay, step, total_steps, end=self.settings.ema_end)
        self.teacher.update(tokenizer.ssl_encoder, decay)

"""Clustering: SwAV (Caron, Misra, Mairal, Goyal, Bojanowski and Joulin, "Unsupervised
Learning of Visual Features by Contrasting Cluster Assignments", NeurIPS 2020).

Each view's normalised projection is scored against K learnable prototypes; the scores of
one view, turned into balanced soft assignments ("codes") by Sinkhorn-Knopp, are what the
other view must predict (swapped prediction). The equal-partition constraint of
Sinkhorn-Knopp (every prototype receives the same share of the batch) is what keeps all
samples from collapsing onto one prototype.

Sizes, against the paper's ImageNet settings: K = 32 prototypes (paper 3000) because our
batches hold 20 to 128 series, and an equal partition of B samples over K >> B prototypes
assigns almost nothing to most of them; no feature queue (the paper adds one below batch
256): a UCR epoch is 1 to 10 steps, so a queue of several batches would hold stale
projections of the same few series; prototypes frozen for the first 50 steps (the paper:
one epoch), epsilon 0.05, 3 Sinkhorn iterations and temperature 0.1 as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncvqvae.collectives import global_count, sum_over_ranks_
from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import SSLBatch, SSLBranch, SSLLossOutput, in_float32, pool_latent
from ncvqvae.tokenizer.ssl.projector import Projector


@torch.no_grad()
def sinkhorn(scores: Tensor, *, epsilon: float, iterations: int) -> Tensor:
    """Balanced soft assignments of the global batch: scores (B, K) -> codes (B, K).

    Q = exp(scores / epsilon), then alternately every prototype's total is set to B/K
    and every sample's to 1 (the last step), sums taken over all ranks' samples.
    """
    q = torch.exp(scores.float() / epsilon).T  # (K, B)
    n_samples = global_count(q.shape[1], q)
    n_prototypes = q.shape[0]
    q /= sum_over_ranks_(q.sum().clone())
    for _ in range(iterations):
        q /= sum_over_ranks_(q.sum(dim=1, keepdim=True))
        q /= n_prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= n_samples
    return (q * n_samples).T.to(scores.dtype)


@in_float32
def swav_loss(scores1: Tensor, scores2: Tensor, *, temperature: float, epsilon: float, iterations: int) -> SSLLossOutput:
    """Swapped prediction: each view's softmax(scores / T) predicts the other's codes."""
    q1 = sinkhorn(scores1.detach(), epsilon=epsilon, iterations=iterations)
    q2 = sinkhorn(scores2.detach(), epsilon=epsilon, iterations=iterations)
    loss = -0.5 * (
        (q1 * F.log_softmax(scores2 / temperature, dim=1)).sum(dim=1).mean()
        + (q2 * F.log_softmax(scores1 / temperature, dim=1)).sum(dim=1).mean()
    )
    return SSLLossOutput(loss=loss, terms={"swav": loss.detach()})


class SwAVBranch(SSLBranch):
    steps_done: Tensor

    def __init__(self, config: SSLConfig, pooled_dim: int) -> None:
        super().__init__()
        self.settings = config.swav
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)
        self.prototypes = nn.Linear(self.projector.out_dim, config.swav.prototypes, bias=False)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self._normalize_prototypes()

    @torch.no_grad()
    def _normalize_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def scores(self, z: Tensor) -> Tensor:
        """Cosine similarity of each normalised projection to each prototype: (B, K)."""
        weight = self.prototypes.weight
        if int(self.steps_done) < self.settings.freeze_prototypes_steps:
            weight = weight.detach()
        return F.normalize(self.projector(pool_latent(z)), dim=1) @ weight.T

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        s = self.settings
        return swav_loss(
            self.scores(batch.z_q), self.scores(batch.z_aug),
            temperature=s.temperature, epsilon=s.epsilon, iterations=s.sinkhorn_iterations,
        )

    def after_optimizer_step(self, tokenizer: nn.Module, step: int, total_steps: int) -> None:
        self.steps_done += 1
        self._normalize_prototypes()

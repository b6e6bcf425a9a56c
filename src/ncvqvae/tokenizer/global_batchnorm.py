"""BatchNorm over the global batch under DDP, on any device.

With W ranks each holding B/W series, a plain BatchNorm normalises with the statistics of
its rank's B/W series: W ranks then train a different model from one process on B (FAIR's
Barlow Twins and VICReg code converts every BatchNorm to SyncBatchNorm for this reason).
torch's SyncBatchNorm runs on GPUs only; :class:`GlobalBatchNorm` computes the same thing
with the package's autograd-aware all-reduce (:mod:`ncvqvae.collectives`), so it also
works on CPUs with gloo, where the tests run: mean and biased variance of the global batch
for normalising, the unbiased global variance for the running estimate, as BatchNorm does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ncvqvae.collectives import global_count, sum_over_ranks, world_size


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Drop-in for BatchNorm1d (input (B, F) or (B, F, L)) and BatchNorm2d ((B, F, H, W))
    that normalises with global-batch statistics in training mode."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (B, F, ...), got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = global_count(x.numel() // x.shape[1], x)
        mean = sum_over_ranks(x.sum(dim=dims)) / count
        shape = (1, -1) + (1,) * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = sum_over_ranks(centred.pow(2).sum(dim=dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        out = centred / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_to_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d/2d in ``module`` by a GlobalBatchNorm with the same
    parameters and buffers (as torch's ``SyncBatchNorm.convert_sync_batchnorm``)."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and not isinstance(module, GlobalBatchNorm):
        converted = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        with torch.no_grad():
            if module.affine:
                converted.weight.copy_(module.weight)
                converted.bias.copy_(module.bias)
                # A frozen copy (an EMA teacher's) stays frozen.
                converted.weight.requires_grad_(module.weight.requires_grad)
                converted.bias.requires_grad_(module.bias.requires_grad)
            if module.track_running_stats:
                converted.running_mean.copy_(module.running_mean)
                converted.running_var.copy_(module.running_var)
                converted.num_batches_tracked.copy_(module.num_batches_tracked)
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_to_global_batchnorm(child))
    return module

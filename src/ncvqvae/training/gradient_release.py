"""Freeing each stage's gradients as soon as the optimiser has used them.

Its own module, apart from ``optim``: importing Lightning costs a process about 100 MiB,
and code that only builds the optimiser (the speed benchmark's step) should not pay it.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch


class ReleasesGradientsAfterStep(L.LightningModule):
    """A LightningModule whose gradients are freed as soon as the optimiser has used them.

    Lightning zeroes gradients inside the next step's closure, after that step's forward,
    so every forward runs with the previous step's gradients still held: one float copy of
    every parameter (132 MiB with the paper's 4096-wide projector) on top of the forward's
    activations, and that is where a bf16 stage-1 step peaks. Setting them to ``None``
    right after the update frees them first; Lightning's own zeroing then has nothing to
    do. Under gradient accumulation ``optimizer_step`` runs only at the boundaries, so
    accumulated gradients are kept until they are used.
    """

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: torch.optim.Optimizer,
        optimizer_closure: Callable[[], object] | None = None,
    ) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        optimizer.zero_grad(set_to_none=True)

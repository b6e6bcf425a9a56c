"""Lightning wrapper of the MaskGIT prior: masked-token training on precomputed tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ncvqvae.config import RunConfig
from ncvqvae.training.gradient_release import ReleasesGradientsAfterStep
from ncvqvae.training.optim import configure_adamw_cosine


class PriorModule(ReleasesGradientsAfterStep):
    """Trains a prior (:class:`MaskGIT` or the two-band one) on batches of
    (tokens (B, N), class labels (B,))."""

    def __init__(self, config: RunConfig, *, prior: nn.Module, total_steps: int) -> None:
        super().__init__()
        self.config = config
        self.total_steps = total_steps
        self.prior = prior
        self._generator: torch.Generator | None = None
        self._val_generator: torch.Generator | None = None

    def _masks_generator(self) -> torch.Generator:
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(self.config.seed * 1000 + 7 + self.global_rank)
        return self._generator

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        tokens, labels = batch
        out = self.prior.loss(tokens, labels, generator=self._masks_generator())
        self.log_dict(
            {"train/loss": out.loss.detach(), "train/masked_acc": out.masked_accuracy},
            on_step=False,
            on_epoch=True,
            batch_size=tokens.shape[0],
            sync_dist=True,
        )
        self.log("loss", out.loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return out.loss

    def on_validation_epoch_start(self) -> None:
        # The same masks at every validation, so val curves compare like with like.
        self._val_generator = torch.Generator(device=self.device)
        self._val_generator.manual_seed(12345)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        tokens, labels = batch
        out = self.prior.loss(tokens, labels, drop_labels=False, generator=self._val_generator)
        self.log_dict(
            {"val/loss": out.loss, "val/masked_acc": out.masked_accuracy},
            on_epoch=True,
            batch_size=tokens.shape[0],
            sync_dist=True,
        )

    def configure_optimizers(self) -> dict[str, object]:
        return configure_adamw_cosine(self.prior, self.config.stage2, self.total_steps)

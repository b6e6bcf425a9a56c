"""Lightning wrapper of the stage-1 objective: augmentation, loss logging, optimiser."""

from __future__ import annotations

import torch
from torch import Tensor

from ncvqvae.config import RunConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.tokenizer.global_batchnorm import convert_to_global_batchnorm
from ncvqvae.tokenizer.objective import StageOneObjective, Tokenizer
from ncvqvae.training.gradient_release import ReleasesGradientsAfterStep
from ncvqvae.training.optim import configure_adamw_cosine


class TokenizerModule(ReleasesGradientsAfterStep):
    """Trains :class:`StageOneObjective` on batches of standardized series (B, C, L).

    The augmented view is made here, on the training device, with a generator seeded
    from the run's seed and the process rank, so views are reproducible and differ
    across DDP ranks.
    """

    def __init__(
        self, config: RunConfig, *, in_channels: int, length: int, total_steps: int
    ) -> None:
        super().__init__()
        self.config = config
        self.total_steps = total_steps
        self.objective = StageOneObjective(
            config.tokenizer, config.ssl, in_channels=in_channels, length=length
        )
        self.augment = (
            build_augmentation(config.ssl.augment, config.ssl.augmentation)
            if self.objective.uses_augmented_view
            else None
        )
        self._generator: torch.Generator | None = None

    def setup(self, stage: str) -> None:
        """Under DDP every BatchNorm (encoder, decoder, projector, teachers) normalises
        with the global batch, as FAIR's Barlow Twins and VICReg code does: torch's
        SyncBatchNorm on GPUs, the package's all-reduce version elsewhere (gloo on CPUs)."""
        if self.trainer is None or self.trainer.world_size <= 1:
            return
        if self.trainer.strategy.root_device.type == "cuda":
            self.objective = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.objective)
        else:
            self.objective = convert_to_global_batchnorm(self.objective)

    @property
    def tokenizer(self) -> Tokenizer:
        return self.objective.tokenizer

    def _views_generator(self) -> torch.Generator:
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(self.config.seed * 1000 + self.global_rank)
        return self._generator

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x = batch[0]
        x_aug = None
        if self.augment is not None:
            x_aug = self.augment(x, generator=self._views_generator())
        out = self.objective(x, x_aug, generator=self._views_generator() if self.objective.uses_ssl else None)
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in out.terms.items()},
            on_step=False,
            on_epoch=True,
            prog_bar=False,
            batch_size=x.shape[0],
            sync_dist=True,
        )
        self.log("loss", out.loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return out.loss

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        self.objective.update_target(self.global_step, self.total_steps)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x = batch[0]
        tok = self.tokenizer(x)
        recon_time = torch.nn.functional.mse_loss(tok.x_hat, x)
        recon_freq = torch.nn.functional.mse_loss(tok.u_hat, tok.u)
        self.log_dict(
            {
                "val/recon_time": recon_time,
                "val/loss": recon_time + recon_freq + tok.commit_loss,
            },
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=True,
        )

    def configure_optimizers(self) -> dict[str, object]:
        return configure_adamw_cosine(self.objective, self.config.stage1, self.total_steps)

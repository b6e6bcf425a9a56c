"""Both stages free their gradients right after each optimiser step, so that the next
forward does not run with a float copy of every parameter still held."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.model.trained import tokenize_series
from ncvqvae.prior.build import build_prior
from ncvqvae.tokenizer.objective import build_tokenizer
from ncvqvae.training.stage_one import TokenizerModule
from ncvqvae.training.stage_two import PriorModule

from ..conftest import tiny_config


class _GradientsAtBatchStart(L.Callback):
    def __init__(self) -> None:
        self.held: list[bool] = []

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object, batch_idx: int) -> None:
        self.held.append(any(p.grad is not None for p in module.parameters()))


def _train(module: L.LightningModule, *data: torch.Tensor, steps: int, accumulate: int = 1) -> _GradientsAtBatchStart:
    probe = _GradientsAtBatchStart()
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[probe],
                        accumulate_grad_batches=accumulate)
    trainer.fit(module, DataLoader(TensorDataset(*data), batch_size=16, shuffle=False))
    return probe


def test_a_stage_one_step_frees_its_gradients_and_still_learns() -> None:
    data = load_dataset("GunPoint")
    x = torch.as_tensor(Standardizer.fit(data.x_train).transform(data.x_train), dtype=torch.float32)
    config = tiny_config(ssl={"method": "barlowtwins"})
    torch.manual_seed(0)
    module = TokenizerModule(config, in_channels=x.shape[1], length=x.shape[2], total_steps=3)
    before = [p.detach().clone() for p in module.parameters()]
    probe = _train(module, x, steps=3)
    assert probe.held == [False, False, False]
    assert all(p.grad is None for p in module.parameters())
    changed = [not torch.equal(a, p) for a, p in zip(before, module.parameters())]
    assert sum(changed) > 0.9 * len(changed), "the optimiser must still update the weights"


def test_accumulated_gradients_are_kept_until_the_step_uses_them() -> None:
    data = load_dataset("GunPoint")
    x = torch.as_tensor(Standardizer.fit(data.x_train).transform(data.x_train), dtype=torch.float32)
    torch.manual_seed(0)
    module = TokenizerModule(tiny_config(), in_channels=x.shape[1], length=x.shape[2], total_steps=2)
    probe = _train(module, x, steps=2, accumulate=2)
    # batches 0 and 2 start a step (nothing held); 1 and 3 follow an accumulating backward
    assert probe.held == [False, True, False, True]


def test_a_prior_step_frees_its_gradients_too() -> None:
    data = load_dataset("GunPoint")
    x = Standardizer.fit(data.x_train).transform(data.x_train).astype("float32")
    config = tiny_config()
    torch.manual_seed(0)
    tokenizer = build_tokenizer(config.tokenizer, in_channels=x.shape[1], length=x.shape[2])
    tokens = tokenize_series(tokenizer, x)
    labels = torch.as_tensor(data.y_train, dtype=torch.long)
    module = PriorModule(config, prior=build_prior(config.prior, tokenizer, n_classes=2), total_steps=3)
    probe = _train(module, tokens, labels, steps=3)
    assert probe.held == [False, False, False]

"""Two-process DDP training of a tiny NC-VQVAE tokenizer and prior on CPU (gloo), for
the DDP test.

Lightning re-launches this script once per extra device; each rank writes its final
codebook, what its optimiser and schedule did, and its prior, trained with its
transformer compiled and its weights averaged (``trainer.compile``, ``stage2.ema_decay``),
so the test can check that the ranks stayed in sync and took the steps one process would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from ncvqvae.config import preset
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.prior.transformer import Transformer
from ncvqvae.training import fit
from ncvqvae.training.trainer import plan_epochs


class RecordSchedule(L.Callback):
    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        scheduler = trainer.lr_scheduler_configs[0].scheduler
        record = {
            "global_step": trainer.global_step,
            "last_lr": scheduler.get_last_lr()[0],
            "first_lr": scheduler.base_lrs[0],
            "global_batchnorm": sorted(
                {type(m).__name__ for m in module.objective.tokenizer.encoder.modules() if "BatchNorm" in type(m).__name__}
            ),
        }
        (OUT / f"schedule_rank{trainer.global_rank}.json").write_text(json.dumps(record))


def main(out: Path) -> None:
    config = preset("cpu").override(
        tokenizer={"hidden_dim": 16, "n_resblocks": 1, "codebook_size": 16},
        ssl={"method": "barlowtwins", "projector": "64-64"},
        stage1={"epochs": 8, "max_steps": None, "batch_size": 16},
        trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp", "progress_bar": False},
    )
    data = load_dataset("ItalyPowerDemand")
    builder = fit.build_trainer
    fit.build_trainer = lambda *a, **k: builder(*a, **{**k, "callbacks": [RecordSchedule()]})
    tokenizer = fit.fit_tokenizer(config, data, Standardizer.fit(data.x_train), out)
    rank = getattr(rank_zero_only, "rank", 0)
    torch.save(tokenizer.quantizer.codebook.detach().clone(), out / f"codebook_rank{rank}.pt")
    fit.build_trainer = builder
    prior_config = config.override(prior={"hidden_dim": 32, "n_layers": 1, "n_heads": 2},
                                   stage2={"epochs": 6, "max_steps": None, "batch_size": 16, "ema_decay": 0.8},
                                   trainer={"compile": True})
    prior = fit.fit_prior(prior_config, data, Standardizer.fit(data.x_train), tokenizer, out)
    transformers = [m for m in prior.modules() if isinstance(m, Transformer)]
    compiled = bool(transformers) and all(m._compiled_call_impl is not None for m in transformers)
    torch.save({"state_dict": prior.state_dict(), "compiled": compiled}, out / f"prior_rank{rank}.pt")
    # What one process would plan for the same data and budget.
    (out / "single_plan.json").write_text(json.dumps(plan_epochs(len(data.x_train), config.stage1, 1)))


if __name__ == "__main__":
    OUT = Path(sys.argv[1])
    main(OUT)

"""Two-process DDP training of a tiny NC-VQVAE tokenizer on CPU (gloo), for the DDP test.

Lightning re-launches this script once per extra device; each rank writes its final
codebook so the test can check that the ranks stayed in sync.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from ncvqvae.config import preset
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.training.fit import fit_tokenizer


def main(out: Path) -> None:
    config = preset("cpu").override(
        tokenizer={"hidden_dim": 16, "n_resblocks": 1, "codebook_size": 16},
        ssl={"method": "barlowtwins", "projector": "64-64"},
        stage1={"epochs": 8, "max_steps": None, "batch_size": 16},
        trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp", "progress_bar": False},
    )
    data = load_dataset("ItalyPowerDemand")
    tokenizer = fit_tokenizer(config, data, Standardizer.fit(data.x_train), out)
    rank = getattr(rank_zero_only, "rank", 0)
    torch.save(tokenizer.quantizer.codebook.detach().clone(), out / f"codebook_rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

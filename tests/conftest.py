"""Shared fixtures: the real UCR data beside the repository, and tiny model settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ncvqvae.config import RunConfig, preset

REPO = Path(__file__).resolve().parents[1]
SHARED_UCR = REPO.parent / "shared" / "data" / "UCRArchive_2018"

os.environ.setdefault("NCVQVAE_CACHE", str(REPO / ".pytest_cache" / "ncvqvae"))


@pytest.fixture(scope="session")
def ucr_dir() -> Path:
    if not SHARED_UCR.is_dir():
        pytest.skip(f"the UCR copies are expected at {SHARED_UCR}")
    return SHARED_UCR


def tiny_config(**sections: dict) -> RunConfig:
    """The cpu preset shrunk to seconds: small widths, a few steps, no progress bars."""
    base = preset("cpu").override(
        tokenizer={"hidden_dim": 16, "n_resblocks": 1, "codebook_size": 16},
        ssl={"projector": "64-64"},
        prior={"hidden_dim": 32, "n_layers": 1, "n_heads": 2},
        stage1={"max_steps": 20, "batch_size": 16},
        stage2={"max_steps": 20, "batch_size": 32},
        evaluation={
            "fcn_epochs": 5,
            "fcn_patience": 5,
            "cas_steps": 10,
            "cas_patience": 2,
            "repeats": 2,
            "halvings": 2,
            "post_hoc_steps": 10,
            "rocket_kernels": 50,
            "min_samples": 64,
            "min_cas_samples": 64,
            "tsne": False,
        },
        trainer={"progress_bar": False, "accelerator": "cpu"},
    )
    # The tiny step caps are the budget: the data-sized budget would multiply them.
    return base.override(budget="fixed").override(skip_none=False, **sections)


@pytest.fixture
def tiny() -> RunConfig:
    return tiny_config()

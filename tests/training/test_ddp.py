"""DDP for real: two CPU processes (gloo) train one tokenizer, then one compiled,
weight-averaged prior, and end in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ddp_stages.py"


def test_two_process_ddp_keeps_both_stages_in_sync_and_learns(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "codebook_rank0.pt")
    rank1 = torch.load(tmp_path / "codebook_rank1.pt")
    assert torch.equal(rank0, rank1), "the EMA codebook diverged between ranks"
    log = pd.read_csv(tmp_path / "logs" / "tokenizer" / "metrics.csv")
    losses = log.dropna(subset=["train/loss"])["train/loss"].to_numpy()
    assert len(losses) == 8 and losses[-1] < losses[0]
    # Two ranks take the optimiser steps one process would take on the same data (the
    # batch size is global), every BatchNorm normalises over the global batch, and the
    # cosine schedule ends at its floor on the last step.
    _, _, single_steps = json.loads((tmp_path / "single_plan.json").read_text())
    for rank in (0, 1):
        schedule = json.loads((tmp_path / f"schedule_rank{rank}.json").read_text())
        assert schedule["global_step"] == single_steps
        assert schedule["last_lr"] == pytest.approx(0.0, abs=1e-12) and schedule["first_lr"] > 0
        assert schedule["global_batchnorm"] == ["GlobalBatchNorm"]
    # The prior, its transformer compiled and its weights averaged, ends the same on both
    # ranks, and what it exports is the average, not the last trained weights.
    priors = [torch.load(tmp_path / f"prior_rank{rank}.pt") for rank in (0, 1)]
    assert priors[0]["compiled"] and priors[1]["compiled"]
    for name, value in priors[0]["state_dict"].items():
        assert torch.equal(value, priors[1]["state_dict"][name]), f"prior {name} diverged between ranks"
    last = torch.load(tmp_path / "checkpoints" / "prior" / "last.ckpt", weights_only=False)["current_model_state"]
    assert any(not torch.equal(value, last[f"prior.{name}"]) for name, value in priors[0]["state_dict"].items())
    prior_log = pd.read_csv(tmp_path / "logs" / "prior" / "metrics.csv")
    prior_losses = prior_log.dropna(subset=["train/loss"])["train/loss"].to_numpy()
    assert len(prior_losses) == 6 and prior_losses[-1] < prior_losses[0]

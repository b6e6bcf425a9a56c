"""DDP for real: two CPU processes (gloo) train one tokenizer and end in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ddp_tokenizer.py"


def test_two_process_ddp_keeps_codebooks_identical_and_learns(tmp_path: Path) -> None:
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

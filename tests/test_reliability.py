"""Crash and resume with a real SIGKILL, determinism, and property-based input checks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner

from ncvqvae import load
from ncvqvae.cli import app
from ncvqvae.config import save_config
from ncvqvae.data.dataset import from_arrays
from ncvqvae.errors import CheckpointError, DataError
from ncvqvae.pipeline import run_all
from ncvqvae.tokenizer.stft import STFT

from .conftest import tiny_config


def _tokenizer_command(config_path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ncvqvae.cli", "tokenizer", "--config", str(config_path), "--out", str(out)]


def test_sigkill_mid_training_then_same_command_resumes(tmp_path: Path) -> None:
    config = tiny_config(
        data={"dataset": "ItalyPowerDemand"},
        stage1={"epochs": 400, "max_steps": None, "batch_size": 16},
    )
    config_path = tmp_path / "tiny.yaml"
    save_config(config, config_path)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(_tokenizer_command(config_path, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints" / "tokenizer" / "last.ckpt"
    deadline = time.time() + 120
    killed_epoch = None
    while time.time() < deadline and proc.poll() is None:
        if last.exists():
            try:
                epoch = torch.load(last, weights_only=False)["epoch"]
            except Exception:  # noqa: BLE001 - a rename may be in flight
                epoch = -1
            if epoch >= 40:
                proc.send_signal(signal.SIGKILL)
                killed_epoch = epoch
                break
        time.sleep(0.2)
    proc.wait(timeout=30)
    assert killed_epoch is not None, "training ended before it could be killed"
    first_session_s = time.perf_counter() - start
    assert not (out / "tokenizer.pt").exists()
    # The kill may land mid-save: the checkpoint itself is still whole (written to a
    # temporary file, then renamed), and the interrupted write is all that can be left.
    assert torch.load(last, weights_only=False)["epoch"] >= 40
    assert all(p.name.endswith(".ckpt.tmp") for p in out.rglob("*.tmp"))
    # Make sure such a leftover exists whatever the kill's timing, to test the clean-up.
    (last.parent / "epoch0007.ckpt.tmp").write_bytes(b"half a checkpoint")

    start = time.perf_counter()
    result = subprocess.run(_tokenizer_command(config_path, out), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    second_session_s = time.perf_counter() - start
    state = torch.load(last, weights_only=False)
    assert state["global_step"] == 1600  # 400 epochs of 4 steps
    assert not list(out.rglob("*.tmp")), "the resumed run must clear interrupted writes"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tokenizer"]["recon_mse"] < 1.0
    log = pd.read_csv(out / "logs" / "tokenizer" / "metrics.csv").dropna(subset=["train/loss"])
    epochs = log["epoch"].astype(int)
    assert epochs.min() == 0 and epochs.max() == 399, "the merged log spans both sessions"
    # Restarting from scratch would log the early epochs twice; resuming logs them once.
    assert (epochs == 0).sum() == 1 and (epochs == 20).sum() == 1
    print(f"killed at epoch {killed_epoch} after {first_session_s:.1f}s; resume took {second_session_s:.1f}s")


def _numbers(metrics: dict) -> dict:
    skip = {"timing", "evaluator"}
    return {k: v for k, v in metrics.items() if k not in skip}


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    config = tiny_config(data={"dataset": "ItalyPowerDemand"}, ssl={"method": "vicreg"})
    a = run_all(config, tmp_path / "a")
    b = run_all(config, tmp_path / "b")
    assert _numbers(a) == _numbers(b)
    assert a["evaluator"]["test_accuracy"] == b["evaluator"]["test_accuracy"]
    c = run_all(config.override(seed=1), tmp_path / "c")
    assert _numbers(c)["tokenizer"] != _numbers(a)["tokenizer"]


def test_unlabelled_custom_multichannel_data_runs_unconditionally(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 6, 40)
    x = np.stack([np.sin(t + p) for p in rng.uniform(0, 3, 60)])[:, None, :] * np.array([1.0, 0.5])[None, :, None]
    data = from_arrays(x[:40], None, x[40:], None, name="waves")
    metrics = run_all(tiny_config(data={"dataset": "waves"}), tmp_path / "u", data=data)
    assert "probe" not in metrics["tokenizer"] and "fid" not in metrics["generation"]
    assert np.isfinite(metrics["generation"]["mdd"])
    assert (tmp_path / "u" / "report.html").exists()


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(min_value=8, max_value=400),
    channels=st.integers(min_value=1, max_value=3),
    scale=st.floats(min_value=1e-3, max_value=1e3),
)
def test_stft_round_trip_property(length: int, channels: int, scale: float) -> None:
    x = torch.randn(2, channels, length, generator=torch.Generator().manual_seed(length)) * scale
    stft = STFT()
    assert torch.allclose(stft.inverse(stft(x), length), x, atol=1e-4 * scale)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 40)),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    )
)
def test_loader_accepts_good_arrays_and_names_every_problem(x: np.ndarray) -> None:
    labels = np.arange(len(x)) % 2
    try:
        data = from_arrays(x, labels, x, labels)
    except DataError as err:
        message = str(err)
        assert any(word in message for word in ("NaN", "infinite", "too short", "shorter"))
        return
    assert np.isfinite(data.x_train).all() and data.length >= 8


def test_multivariate_basicmotions_trains_end_to_end(tmp_path: Path) -> None:
    metrics = run_all(tiny_config(data={"dataset": "BasicMotions"}), tmp_path / "bm")
    assert metrics["tokenizer"]["grid"][0] == 5
    assert np.isfinite(metrics["generation"]["fid"]) and 0 <= metrics["generation"]["cas"] <= 1
    model = load(tmp_path / "bm")
    assert model.sample(3, class_label=model.classes[2]).shape == (3, 6, 100)


def test_cli_data_file_with_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 8, 48)
    y = np.repeat([0, 1], 30)
    x = np.sin(t[None] * (1 + y[:, None])) + 0.1 * rng.normal(size=(60, 48))
    np.save(tmp_path / "x.npy", x[:, None, :])
    np.save(tmp_path / "y.npy", y)
    config_path = tmp_path / "tiny.yaml"
    save_config(tiny_config(), config_path)
    result = CliRunner().invoke(
        app,
        ["tokenizer", "--config", str(config_path), "--data-file", str(tmp_path / "x.npy"),
         "--labels", str(tmp_path / "y.npy"), "--out", str(tmp_path / "run")],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == "x" and set(metrics["tokenizer"]["probe"]) == {"svm", "knn"}
    # A finished tokenizer is not retrained by accident...
    again = CliRunner().invoke(app, ["tokenizer", "--config", str(config_path), "--data-file",
                                     str(tmp_path / "x.npy"), "--out", str(tmp_path / "run")])
    assert again.exit_code == 2 and "--resume" in again.output
    # ...and a tokenizer from other data is refused when a stage would reuse it.
    from ncvqvae.pipeline import open_run, run_tokenizer_stage

    ctx = open_run(tiny_config(data={"dataset": "ItalyPowerDemand"}), tmp_path / "other")
    shutil.copy(tmp_path / "run" / "tokenizer.pt", tmp_path / "other" / "tokenizer.pt")
    with pytest.raises(CheckpointError, match="was trained on x"):
        run_tokenizer_stage(ctx)

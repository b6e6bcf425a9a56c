"""The one place a Lightning ``Trainer`` is built: devices, DDP, logs, checkpoints, resume.

Every stage trains through :func:`build_trainer`, so CPU, one GPU and many GPUs or nodes
(``strategy="ddp"``) behave the same way, and every stage writes its CSV log and its
checkpoints to the same places in the run folder.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging
from lightning.pytorch.loggers import CSVLogger

from ncvqvae.config import OptimConfig, TrainerConfig
from ncvqvae.errors import CheckpointError
from ncvqvae.training.progress import StageProgressBar
from ncvqvae.training.selection import best_checkpoint

LAST = "last.ckpt"
log = logging.getLogger("ncvqvae")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file and renames it, so a kill mid-save never corrupts a file.

    ``os.replace`` is atomic on POSIX and Windows: the checkpoint on disk is always either
    the previous complete one or the new complete one.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)


class LastCheckpoint(Callback):
    """Writes the stage's one checkpoint, last.ckpt, at the end of every
    ``every_n_epochs``-th epoch, at the end of any epoch that ends more than ``minutes``
    after the last write (slow epochs never leave more than that much work unsaved),
    and when training ends. Always at an epoch's end, where a stage resumes exactly;
    the write is atomic (:class:`AtomicCheckpointIO`)."""

    def __init__(self, path: Path, every_n_epochs: int, minutes: float = 10.0) -> None:
        self.path, self.every, self.seconds = Path(path), max(1, every_n_epochs), 60.0 * minutes
        self.last = time.monotonic()

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path)
        self.last = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every == 0 or time.monotonic() - self.last > self.seconds:
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._save(trainer)


def is_main_process() -> bool:
    """True on global rank 0 (and in a plain single-process run).

    Under DDP, Lightning re-launches the whole command once per device; the extra ranks
    only take part in training, while files, metrics and evaluation stay with rank 0.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def check_accelerator(config: TrainerConfig) -> None:
    """Fail before anything trains when the asked-for device is not on this machine."""
    from ncvqvae.errors import ConfigError

    if config.accelerator in ("gpu", "cuda"):
        available = torch.cuda.device_count()
        if available == 0:
            raise ConfigError(
                f"--accelerator {config.accelerator}: no CUDA GPU is visible on this machine "
                "(torch.cuda.is_available() is False); use --accelerator cpu, or install a CUDA build of torch"
            )
        if isinstance(config.devices, int) and config.devices * 1 > available and config.num_nodes == 1:
            raise ConfigError(f"--devices {config.devices}: this machine has {available} GPU(s)")
    if config.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--accelerator mps: Apple's MPS backend is not available on this machine")


def evaluation_device(config: TrainerConfig) -> torch.device:
    """Where sampling and evaluation run: the training device (the first GPU when
    training uses GPUs and one is visible), else the CPU."""
    if config.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def stage_dir(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / "checkpoints" / stage


def last_checkpoint(run_dir: Path, stage: str) -> Path | None:
    """The stage's last checkpoint, verified readable; ``None`` when there is none.

    Every stage asks this before it trains, so this is also where the files of writes a
    kill interrupted are cleared (:func:`discard_unfinished_writes`).

    A checkpoint that exists but cannot be read is an error, never a silent restart from
    scratch: the user may prefer to keep it and investigate.
    """
    discard_unfinished_writes(stage_dir(run_dir, stage))
    path = stage_dir(run_dir, stage) / LAST
    if not path.exists():
        return None
    check_checkpoint(path)
    return path


def fit_resumable(
    trainer: L.Trainer,
    module: L.LightningModule,
    *,
    train_loader: Any,
    val_loader: Any,
    run_dir: Path,
    stage: str,
    total_steps: int,
) -> None:
    """``trainer.fit`` from the stage's last checkpoint, if any, saying so in one line.

    Lightning answers Ctrl-C by stopping gracefully and then calling ``sys.exit(1)``; that
    is turned back into the ``KeyboardInterrupt`` it was, so the command line can exit
    with 130 and say that the same command resumes.
    """
    checkpoint = last_checkpoint(run_dir, stage)
    if checkpoint is not None and is_main_process():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        log.info(
            "%s: resuming from step %d of %d (epoch %d), checkpoint %s",
            stage, int(state.get("global_step", 0)), total_steps, int(state.get("epoch", 0)) + 1, checkpoint,
        )
    try:
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=checkpoint)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise


def discard_unfinished_writes(folder: Path) -> None:
    """Delete the ``.tmp`` files a kill left behind in a stage's checkpoint folder.

    :class:`AtomicCheckpointIO` renames every write it finishes, so a ``.tmp`` file there
    is always an interrupted one: it holds nothing to keep, and left alone it would linger
    (a later save of another epoch never overwrites it).
    """
    if folder.is_dir():
        for unfinished in folder.glob("*.tmp"):
            unfinished.unlink(missing_ok=True)


def check_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated/garbled files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}); delete it to "
            "restart this stage from its previous checkpoint or from scratch"
        ) from err
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} is not a training checkpoint of this package")
    return state


def planned_world_size(config: TrainerConfig) -> int:
    """How many processes a Trainer built from ``config`` will train with (DDP: devices x
    nodes; otherwise 1)."""
    if not config.strategy.startswith("ddp"):
        return 1
    devices = config.devices
    if devices == "auto":
        devices = max(torch.cuda.device_count(), 1) if config.accelerator in ("gpu", "cuda", "auto") else 1
    return int(devices) * config.num_nodes


def plan_epochs(n_train: int, optim: OptimConfig, world_size: int = 1) -> tuple[int, int, int]:
    """(per-process batch, epochs, optimiser steps) for a training set of n_train.

    ``optim.batch_size`` is the global batch: under DDP each of the W processes takes
    batch / W series per step, so one process and W processes take the same optimiser
    steps over the same data, ``max_steps`` counts the same steps, and the cosine
    schedule spans exactly the steps that will run. The batch is capped at the data
    size; the step cap (if any) is turned into epochs.
    """
    batch = max(1, min(optim.batch_size, n_train))
    per_rank = max(1, batch // world_size)
    # Each process sees ceil(n / W) series per epoch (the distributed sampler pads).
    per_rank_n = -(-n_train // world_size)
    drop_last = per_rank_n > per_rank
    steps_per_epoch = max(1, per_rank_n // per_rank if drop_last else -(-per_rank_n // per_rank))
    epochs = optim.epochs
    if optim.max_steps is not None:
        epochs = min(epochs, math.ceil(optim.max_steps / steps_per_epoch))
    return per_rank, epochs, epochs * steps_per_epoch


def log_dir(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / "logs" / stage


def set_aside_previous_log(run_dir: Path, stage: str) -> None:
    """Lightning's CSV logger deletes an existing metrics.csv; a resumed stage moves it to
    a numbered part first, and :func:`merge_logs` joins the parts when training ends."""
    folder = log_dir(run_dir, stage)
    current = folder / "metrics.csv"
    if current.is_file():
        n = len(list(folder.glob("metrics.part*.csv")))
        os.replace(current, folder / f"metrics.part{n:03d}.csv")


def merge_logs(run_dir: Path, stage: str) -> Path:
    """Join the parts of an interrupted stage's log into one metrics.csv, in order."""
    folder = log_dir(run_dir, stage)
    current = folder / "metrics.csv"
    parts = sorted(folder.glob("metrics.part*.csv"))
    if not parts:
        return current
    import pandas as pd

    frames = [pd.read_csv(p) for p in [*parts, current] if p.is_file()]
    merged = pd.concat(frames, ignore_index=True, sort=False)
    tmp = folder / "metrics.csv.tmp"
    merged.to_csv(tmp, index=False)
    os.replace(tmp, current)
    for part in parts:
        part.unlink()
    return current


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners and tips out of the user's terminal; warnings
    and errors still show."""
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.pytorch",
        "lightning.fabric",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    # Expected when a stage resumes: the logs are set aside and merged, checkpoints kept.
    warnings.filterwarnings("ignore", message="Experiment logs directory .* exists")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


def build_trainer(
    config: TrainerConfig,
    *,
    run_dir: Path,
    stage: str,
    max_epochs: int,
    val_every_n_epochs: int = 1,
    checkpoint_every_n_epochs: int = 1,
    callbacks: list[Callback] | None = None,
    keep_best: bool = False,
    ema_decay: float | None = None,
) -> L.Trainer:
    """A Trainer that logs to ``run_dir/logs/<stage>`` and checkpoints to
    ``run_dir/checkpoints/<stage>``: ``last.ckpt``, and with ``keep_best`` also
    ``best.ckpt``, the weights of the lowest validation loss (:mod:`.selection`). With
    ``ema_decay`` Lightning's ``EMAWeightAveraging`` keeps an average of the weights,
    which validation, the checkpoints and the end of training use."""

    quiet_lightning()
    torch.set_float32_matmul_precision(config.matmul_precision)
    run_dir = Path(run_dir)
    set_aside_previous_log(run_dir, stage)
    # One file, last.ckpt, overwritten: resume needs nothing else.
    checkpoint = LastCheckpoint(stage_dir(run_dir, stage) / LAST, checkpoint_every_n_epochs)
    all_callbacks: list[Callback] = [checkpoint, *(callbacks or [])]
    if ema_decay is not None:
        all_callbacks.append(EMAWeightAveraging(decay=ema_decay))
    if keep_best:
        all_callbacks.append(best_checkpoint(stage_dir(run_dir, stage), averaged=ema_decay is not None))
    if config.progress_bar:
        all_callbacks.append(StageProgressBar(stage))
    return L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,
        max_epochs=max_epochs,
        logger=CSVLogger(run_dir / "logs", name=stage, version=""),
        callbacks=all_callbacks,
        plugins=[AtomicCheckpointIO()],
        check_val_every_n_epoch=val_every_n_epochs,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        # LastCheckpoint writes last.ckpt; Lightning's own checkpointing only for best.ckpt.
        enable_checkpointing=keep_best,
        # Reproducible on CPUs, where it costs nothing; on GPUs deterministic kernels are
        # slower, so they are used only when asked for (trainer.deterministic: true).
        deterministic=config.deterministic if config.deterministic is not None else (
            "warn" if config.accelerator == "cpu" else False
        ),
        default_root_dir=run_dir,
    )

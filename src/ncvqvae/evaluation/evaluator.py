"""The evaluator FCN of a dataset: trained once on the real training split, then cached.

IS and FID are only comparable across runs when they use the same feature extractor, so
the evaluator is keyed by the data and its training settings (not by the run) and stored
in a shared cache folder that every run of the dataset reuses (CAS trains classifiers of
its own). Each run records the digest of the weights its scores were computed in: two
machines that train "the same" evaluator get different last bits, and FID floors that
differed by up to 61%.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ncvqvae import __version__
from ncvqvae.config import EvaluationConfig
from ncvqvae.errors import CheckpointError
from ncvqvae.evaluation.fcn import FCN, accuracy
from ncvqvae.evaluation.fcn_training import FCNTrainingConfig, train_fcn

CACHE_ENV = "NCVQVAE_CACHE"
_FILE_FORMAT = "ncvqvae-fcn-v1"
EVALUATOR_VERSION = f"fcn-{__version__}"


def cache_dir() -> Path:
    """``$NCVQVAE_CACHE``, else ``~/.cache/ncvqvae``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "ncvqvae"


@contextmanager
def cache_at(path: str | Path) -> Iterator[Path]:
    """Point :func:`cache_dir` at ``path`` while the block runs (a study pins its cells'
    evaluators to its own folder this way), then restore what was set before."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(path)
    try:
        yield Path(path)
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path`` (POSIX ``flock``): the workers of a study that
    need the same dataset's evaluator train it once, and every cell is scored by that one."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the atomic save still keeps the file whole
        yield
        return
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def weights_digest(model: torch.nn.Module) -> str:
    """16 hex digits of sha256 over the names and bytes of ``model``'s weights and buffers."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class Evaluator:
    model: FCN
    test_accuracy: float
    path: Path
    cached: bool
    digest: str = ""


def evaluator_training_config(config: EvaluationConfig, seed: int) -> FCNTrainingConfig:
    return FCNTrainingConfig(
        max_epochs=config.fcn_epochs, patience=config.fcn_patience, val_fraction=0.2, seed=seed
    )


def get_evaluator(
    dataset_name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    config: EvaluationConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> Evaluator:
    """Load the cached evaluator for this data and settings, or train and cache it.

    Series are standardized (N, C, L), as every other model of the run sees them.
    """
    fcn_config = evaluator_training_config(config, seed)
    key = fcn_cache_key(x_train, y_train, fcn_config, EVALUATOR_VERSION)
    path = cache_dir() / "evaluators" / f"{dataset_name}-{key}.pt"
    with _exclusive(path):
        if path.exists():
            model, meta = load_fcn(path)
            return Evaluator(model.to(device), float(meta["test_accuracy"]), path, True, weights_digest(model))
        model = train_fcn(x_train, y_train, n_classes, fcn_config, device=device, progress=progress)
        test_accuracy = accuracy(model, x_test, y_test)
        save_fcn(model, path, {"dataset": dataset_name, "test_accuracy": test_accuracy, "key": key})
    return Evaluator(model, test_accuracy, path, False, weights_digest(model))


class CorruptEvaluatorError(CheckpointError, ValueError):
    """A saved evaluator file cannot be read (truncated write, disk error, other format)."""


def save_fcn(model: FCN, path: str | Path, meta: dict) -> None:
    """Save weights, architecture sizes and ``meta`` (must be JSON-serialisable) atomically.

    Writing to ``path.tmp`` then renaming means an interrupted save never leaves a
    half-written file under the real name that a later run would try to reuse.
    """
    path = Path(path)
    try:
        meta_json = json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"FCN meta must be JSON-serialisable (plain types): {err}") from None
    payload = {
        "format": _FILE_FORMAT,
        "in_channels": model.in_channels,
        "n_classes": model.n_classes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta_json,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_fcn(path: str | Path) -> tuple[FCN, dict]:
    """Load a file written by :func:`save_fcn`; returns (model on CPU in eval mode, meta).

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptEvaluatorError: the file exists but is not a readable evaluator.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved evaluator FCN at {path}")
    fix = f"delete {path} and run again to retrain the evaluator"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != _FILE_FORMAT:
            raise KeyError(f"format is {payload.get('format')!r}, expected {_FILE_FORMAT!r}")
        model = FCN(int(payload["in_channels"]), int(payload["n_classes"]))
        model.load_state_dict(payload["state_dict"])
        meta = json.loads(payload["meta"])
    except Exception as err:  # torch raises many types for a damaged zip/pickle
        raise CorruptEvaluatorError(
            f"evaluator file {path} is corrupt or not an FCN checkpoint "
            f"({type(err).__name__}: {err}); {fix}"
        ) from err
    return model.eval(), meta


def fcn_cache_key(
    x_train: np.ndarray, y_train: np.ndarray, config: FCNTrainingConfig, version: str
) -> str:
    """16 hex digits of sha256 over the data bytes, their shapes, the config and ``version``.

    A cached evaluator is reused only when all of these match: a different
    standardization, subset or seed gives a different key. Bump ``version`` when the
    FCN code changes in a way that alters the trained weights.
    """
    digest = hashlib.sha256()
    for array in (np.asarray(x_train, dtype=np.float32), np.asarray(y_train, dtype=np.int64)):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def data_key(*parts: np.ndarray | str | int | float) -> str:
    """16 hex digits of sha256 over arrays (bytes, dtype, shape) and plain values."""
    digest = hashlib.sha256(EVALUATOR_VERSION.encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def cached_number(kind: str, key: str, compute: Callable[[], float]) -> float:
    """``compute()``, remembered in the cache folder under ``kind/key.json``.

    For scores of the real data alone (TRTR, the post-hoc scores' real-vs-real floors):
    they do not depend on the generator, so every run of a dataset shares them. A missing
    or unreadable entry is computed again and rewritten (atomically, so an interrupted
    write never leaves a half-written entry behind).
    """
    path = cache_dir() / kind / f"{key}.json"
    try:
        return float(json.loads(path.read_text())["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = float(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"value": value}))
    os.replace(tmp, path)
    return value

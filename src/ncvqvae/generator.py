"""A trained run as a Python object: load a run folder, sample series, tokenize series.

``ncvqvae.load(run_dir).sample(100, class_label=1)`` returns series in the data's own
units, without Lightning or the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ncvqvae.config import from_dict
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import CheckpointError, ConfigError
from ncvqvae.prior.build import Prior, build_prior
from ncvqvae.prior.sampling import sample_tokens
from ncvqvae.run_folder import RunFolder
from ncvqvae.tokenizer.objective import Tokenizer, build_tokenizer
from ncvqvae.training.fit import load_export


def load_tokenizer(path: Path) -> tuple[Tokenizer, dict]:
    payload = load_export(path)
    config = from_dict(payload["config"])
    meta = payload["meta"]
    tokenizer = build_tokenizer(config.tokenizer, in_channels=meta["in_channels"], length=meta["length"])
    try:
        tokenizer.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the tokenizer architecture: {err}") from err
    return tokenizer.eval(), meta


def load_prior(path: Path, tokenizer: Tokenizer) -> Prior:
    payload = load_export(path)
    config = from_dict(payload["config"])
    meta = payload["meta"]
    if meta["n_tokens"] != tokenizer.n_tokens:
        raise CheckpointError(
            f"{path} was trained on sequences of {meta['n_tokens']} tokens but the tokenizer "
            f"makes {tokenizer.n_tokens}; the prior belongs to another run"
        )
    prior = build_prior(config.prior, tokenizer, meta["n_classes"])
    try:
        prior.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match this run's prior: {err}") from err
    return prior.eval()


@dataclass
class TrainedModel:
    tokenizer: Tokenizer
    prior: Prior | None
    standardizer: Standardizer
    class_names: tuple[str, ...]
    sampling_steps: int = 10
    gumbel_temperature: float = 4.0

    @property
    def device(self) -> torch.device:
        return next(self.tokenizer.parameters()).device

    def to(self, device: str | torch.device) -> TrainedModel:
        self.tokenizer.to(device)
        if self.prior is not None:
            self.prior.to(device)
        return self

    def sample(
        self,
        n: int,
        class_label: int | np.ndarray | None = None,
        guidance: float = 1.0,
        *,
        seed: int = 0,
        batch_size: int = 512,
        steps: int | None = None,
        standardized: bool = False,
    ) -> np.ndarray:
        """Generate n series (n, C, L), in the data's own units unless ``standardized``.

        Args:
            class_label: one class id for all samples, an array of n ids, or ``None`` for
                unconditional samples.
            guidance: classifier-free guidance scale (class-conditional samples only).
        """
        if self.prior is None:
            raise CheckpointError("this run has no trained prior yet; run `ncvqvae prior` first")
        if n <= 0:
            raise ConfigError(f"the number of samples must be positive, got {n}")
        labels = None
        if class_label is not None:
            labels = np.broadcast_to(np.asarray(class_label, dtype=np.int64), (n,))
            n_classes = self.prior.n_classes
            if n_classes == 0 or labels.min() < 0 or labels.max() >= n_classes:
                raise ConfigError(
                    f"class label out of range: this model knows classes 0..{n_classes - 1}"
                    if n_classes
                    else "this model was trained without labels; sample unconditionally"
                )
        generator = torch.Generator(device=self.device).manual_seed(seed)
        parts = []
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            batch_labels = None if labels is None else torch.from_numpy(labels[start : start + size].copy())
            tokens = sample_tokens(
                self.prior,
                size,
                class_labels=batch_labels,
                steps=steps or self.sampling_steps,
                guidance=guidance,
                temperature=self.gumbel_temperature,
                generator=generator,
                device=self.device,
            )
            with torch.inference_mode():
                parts.append(self.tokenizer.detokenize(tokens).cpu().numpy())
        x = np.concatenate(parts).astype(np.float32)
        return x if standardized else self.standardizer.inverse(x)


def load_run(run_dir: str | Path) -> TrainedModel:
    """Load the tokenizer (and the prior, when trained) of a run folder."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise CheckpointError(f"run folder {folder.path} does not exist")
    tokenizer, meta = load_tokenizer(folder.tokenizer_path)
    prior = load_prior(folder.prior_path, tokenizer) if folder.prior_path.exists() else None
    config = folder.read_config() if folder.config_path.exists() else None
    return TrainedModel(
        tokenizer=tokenizer,
        prior=prior,
        standardizer=Standardizer(**meta["standardizer"]),
        class_names=tuple(meta["class_names"]),
        sampling_steps=config.prior.sampling_steps if config else 10,
        gumbel_temperature=config.prior.gumbel_temperature if config else 4.0,
    )

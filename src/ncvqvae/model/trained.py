"""A trained run as a Python object, scikit-learn-like: tokenize, embed, reconstruct,
sample, impute and forecast series in the data's own units.

    model = ncvqvae.load("runs/gp")
    codes = model.tokenize(x)                 # (N, n_tokens) ints
    filled = model.impute(x_with_nan)         # NaN stretches filled by the prior
    x_new = model.sample(100, class_label=2)  # GunPoint's own label 2

Inputs are (N, C, L) arrays, or (N, L) for univariate data, in the data's units; class
labels are the dataset's own label values (GunPoint's 1 and 2, the strings of a file
whose labels are strings). The 0..K-1 index the networks use stays inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ncvqvae.config import RunConfig, from_saved
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import CheckpointError, ConfigError, DataError
from ncvqvae.host_memory import keep_freed_memory
from ncvqvae.model.export import load_export
from ncvqvae.precision import mixed_precision
from ncvqvae.prior.build import Prior, build_prior, compile_transformers
from ncvqvae.prior.sampling import sample_tokens
from ncvqvae.run_folder import RunFolder
from ncvqvae.tokenizer.objective import Tokenizer, build_tokenizer

ENCODE_BATCH = 256


def load_tokenizer(path: Path) -> tuple[Tokenizer, dict]:
    payload = load_export(path)
    config = from_saved(payload["config"])
    meta = payload["meta"]
    tokenizer = build_tokenizer(config.tokenizer, in_channels=meta["in_channels"], length=meta["length"])
    try:
        tokenizer.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the tokenizer architecture: {err}") from err
    return tokenizer.eval(), meta


def load_prior(path: Path, tokenizer: Tokenizer) -> Prior:
    return load_prior_with_config(path, tokenizer)[0]


def load_prior_with_config(path: Path, tokenizer: Tokenizer) -> tuple[Prior, RunConfig]:
    """The prior and the run config it was trained with (its decoding steps and precision
    among them)."""
    payload = load_export(path)
    config = from_saved(payload["config"])
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
    if config.trainer.compile:
        compile_transformers(prior)
    return prior.eval(), config


@torch.no_grad()
def tokenize_series(tokenizer: Tokenizer, x: np.ndarray, batch: int = 512) -> torch.Tensor:
    """Standardized series (N, C, L) -> tokens (N, N_tok), in eval mode (no EMA/BN update)."""
    tokenizer.eval()
    device = next(tokenizer.parameters()).device
    parts = [
        tokenizer.tokenize(torch.from_numpy(x[i : i + batch]).to(device)).cpu()
        for i in range(0, len(x), batch)
    ]
    return torch.cat(parts)


def labels_as_data(class_names: tuple[str, ...]) -> np.ndarray:
    """The class names as the data gave them: numbers when every name is one."""
    try:
        values = np.array([float(name) for name in class_names])
    except ValueError:
        return np.array(class_names)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


@dataclass
class TrainedModel:
    """The tokenizer, the prior (``None`` before stage 2) and what maps data to them.

    Args:
        standardizer: the training split's per-channel mean and std.
        class_names: the dataset's label of each class index, in order.
        sampling_steps, gumbel_temperature, token_temperature: the run's decoding
            settings (T, tau, and the temperature of each token draw).
        precision: the run's ``trainer.precision``. The prior samples under the autocast
            it trained in (where the time of sampling goes); the tokenizer always encodes
            and decodes in float32, so tokens and series do not carry half-precision
            rounding.
    """

    tokenizer: Tokenizer
    prior: Prior | None
    standardizer: Standardizer
    class_names: tuple[str, ...]
    sampling_steps: int = 10
    gumbel_temperature: float = 4.0
    token_temperature: float = 1.0
    precision: str = "32-true"

    def __post_init__(self) -> None:
        # Sampling and encoding reuse their buffers (host_memory). A run builds this
        # after training, so its training stages keep glibc's defaults: kept memory paid
        # for sampling only, and one whole-run pair left the training stages slower.
        keep_freed_memory()

    @property
    def device(self) -> torch.device:
        return next(self.tokenizer.parameters()).device

    @property
    def length(self) -> int:
        return self.tokenizer.length

    @property
    def n_channels(self) -> int:
        return self.tokenizer.in_channels

    @property
    def classes(self) -> np.ndarray:
        """The dataset's class labels, in the order of the class index."""
        return labels_as_data(self.class_names)

    def to(self, device: str | torch.device) -> TrainedModel:
        self.tokenizer.to(device)
        if self.prior is not None:
            self.prior.to(device)
        return self

    # ---------------------------------------------------------------- labels and inputs

    def class_index(self, labels: Any) -> np.ndarray:
        """Dataset labels (one or an array) -> class indices 0..K-1; unknown ones are an
        error that lists the labels this model knows."""
        if not self.class_names:
            raise ConfigError("this model was trained without labels; sample unconditionally")
        lookup = {name: i for i, name in enumerate(self.class_names)}
        values = np.atleast_1d(np.asarray(labels, dtype=object))
        index = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            key = _label_key(value)
            if key not in lookup:
                raise ConfigError(
                    f"class label {key!r} is not one of this model's classes: "
                    f"{', '.join(self.class_names)}"
                )
            index[i] = lookup[key]
        return index

    def _series(self, x: np.ndarray, what: str, *, allow_nan: bool = False) -> np.ndarray:
        """(N, C, L) or, for univariate data, (N, L) in data units -> (N, C, L) float32."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2 and self.n_channels == 1:
            x = x[:, None, :]
        expected = (self.n_channels, self.length)
        if x.ndim != 3 or x.shape[1:] != expected:
            raise DataError(
                f"{what}: expected series of shape (N, {expected[0]}, {expected[1]}), got shape "
                f"{tuple(x.shape)}"
            )
        if len(x) == 0:
            raise DataError(f"{what}: holds no series")
        bad = ~np.isfinite(x) if not allow_nan else np.isinf(x)
        if bad.any():
            row = int(np.nonzero(bad.reshape(len(x), -1).any(axis=1))[0][0])
            kind = "NaN or infinite values" if not allow_nan else "infinite values"
            raise DataError(f"{what}: {kind} in series {row}; NaN marks a gap only for impute")
        return x

    # ------------------------------------------------------------------ representations

    def tokenize(self, x: np.ndarray) -> np.ndarray:
        """Codes of each series: x (N, C, L) -> (N, n_tokens) int64.

        Row-major over the (frequency, time) grid; for the two-band tokenizer the low
        band's codes come first, then the high band's offset by the codebook size K,
        exactly the sequence the prior was trained on.
        """
        x = self.standardizer.transform(self._series(x, "tokenize"))
        return tokenize_series(self.tokenizer, x).numpy()

    @torch.no_grad()
    def _encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardized (N, C, L) -> (pooled z_q (N, d), reconstruction (N, C, L))."""
        self.tokenizer.eval()
        pooled, decoded = [], []
        for start in range(0, len(x), ENCODE_BATCH):
            out = self.tokenizer(torch.from_numpy(x[start : start + ENCODE_BATCH]).to(self.device))
            pooled.append(out.z_q.mean(dim=(2, 3)).cpu())
            decoded.append(out.x_hat.cpu())
        return torch.cat(pooled).numpy(), torch.cat(decoded).numpy()

    def embed(self, x: np.ndarray) -> np.ndarray:
        """The representation the linear probes use: z_q averaged over the token grid,
        x (N, C, L) -> (N, d) float32 (d = the tokenizer width; the low band for the
        two-band tokenizer)."""
        return self._encode(self.standardizer.transform(self._series(x, "embed")))[0]

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Tokenize and decode: x (N, C, L) -> (N, C, L), in data units."""
        x = self.standardizer.transform(self._series(x, "reconstruct"))
        return self.standardizer.inverse(self._encode(x)[1])

    # ------------------------------------------------------------------------ generation

    def sample(
        self,
        n: int,
        class_label: Any = None,
        guidance: float = 1.0,
        *,
        steps: int | None = None,
        temperature: float | None = None,
        token_temperature: float | None = None,
        seed: int = 0,
        batch_size: int = 512,
        progress: bool = False,
    ) -> np.ndarray:
        """Generate n series (n, C, L) in data units.

        Args:
            class_label: one dataset label for every sample, an array of n labels, or
                ``None`` for unconditional samples.
            guidance: classifier-free guidance scale w >= 0 (class-conditional only).
            steps, temperature, token_temperature: decoding steps T, Gumbel temperature
                tau and the temperature of each token draw (the run's own settings when
                ``None``; a token temperature above 1 trades fidelity for novelty).
            seed: same seed, same samples.
        """
        index = None if class_label is None else self.class_index(class_label)
        if index is not None and len(index) not in (1, n):
            raise ConfigError(f"give one class label or {n}, got {len(index)}")
        x = self.sample_standardized(
            n, index, guidance, steps=steps, temperature=temperature,
            token_temperature=token_temperature, seed=seed, batch_size=batch_size, progress=progress,
        )
        return self.standardizer.inverse(x)

    def sample_standardized(
        self,
        n: int,
        class_index: np.ndarray | None = None,
        guidance: float = 1.0,
        *,
        steps: int | None = None,
        temperature: float | None = None,
        token_temperature: float | None = None,
        seed: int = 0,
        batch_size: int = 512,
        progress: bool = False,
    ) -> np.ndarray:
        """:meth:`sample` with class indices 0..K-1 and standardized output, for the
        evaluation code, which works in those terms."""
        self._check_generation(n, guidance)
        if token_temperature is not None and not token_temperature > 0:
            raise ConfigError(f"token_temperature must be > 0, got {token_temperature}")
        if class_index is not None:
            class_index = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,))
            self._check_index(class_index)
        return self._decode(
            n, class_index, guidance, given=None, given_mask=None, steps=steps,
            temperature=temperature, token_temperature=token_temperature, seed=seed,
            batch_size=batch_size, progress=progress,
        )

    def impute(
        self,
        x: np.ndarray,
        class_label: Any = None,
        guidance: float = 1.0,
        *,
        steps: int | None = None,
        temperature: float | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> np.ndarray:
        """Fill the NaN stretches of x (N, C, L) and return it (N, C, L), in data units.

        The known values are filled linearly (a placeholder), tokenized, and every token
        whose STFT frames touch a gap is masked; the prior decodes those tokens given the
        others (and the class, when ``class_label`` is given), the tokenizer turns the
        sequence back into a series, and the observed values are kept exactly: only the
        NaN entries change. A series without NaN comes back unchanged.
        """
        x = self._series(x, "impute", allow_nan=True)
        missing = np.isnan(x)
        if not missing.any():
            return x.copy()
        self._check_generation(len(x), guidance)
        index = None
        if class_label is not None:
            index = np.broadcast_to(self.class_index(class_label), (len(x),)).copy()
        filled = self.standardizer.transform(_fill_linearly(x, self.standardizer.mean))
        given = tokenize_series(self.tokenizer, filled)
        touched = self.tokenizer.tokens_touched(torch.from_numpy(missing)).cpu()
        generated = self._decode(
            len(x), index, guidance, given=given, given_mask=~touched, steps=steps,
            temperature=temperature, seed=seed, batch_size=512, progress=progress,
        )
        return np.where(missing, self.standardizer.inverse(generated), x).astype(np.float32)

    def forecast(self, x_head: np.ndarray, horizon: int, class_label: Any = None, **options: Any) -> np.ndarray:
        """The next ``horizon`` steps of each series: x_head (N, C, L - horizon) ->
        (N, C, horizon), in data units. The model's length L is fixed, so head and
        horizon must add up to it; this is :meth:`impute` of a missing end."""
        head = np.asarray(x_head, dtype=np.float32)
        if head.ndim == 2 and self.n_channels == 1:
            head = head[:, None, :]
        if head.ndim != 3:
            raise DataError(f"forecast: expected x_head of shape (N, C, L_head), got {tuple(head.shape)}")
        if horizon < 1 or head.shape[2] + horizon != self.length:
            raise ConfigError(
                f"forecast: head length {head.shape[2]} + horizon {horizon} must equal the "
                f"model's length {self.length}"
            )
        if np.isnan(head).any():
            raise DataError("forecast: x_head holds NaN; use impute for gaps inside a series")
        gap = np.full((*head.shape[:2], horizon), np.nan, dtype=np.float32)
        full = self.impute(np.concatenate([head, gap], axis=2), class_label, **options)
        return full[:, :, head.shape[2] :]

    # -------------------------------------------------------------------------- helpers

    def _check_generation(self, n: int, guidance: float) -> None:
        if self.prior is None:
            raise CheckpointError("this run has no trained prior yet; run `ncvqvae prior` first")
        if n <= 0:
            raise ConfigError(f"the number of samples must be positive, got {n}")
        if guidance < 0:
            raise ConfigError(f"guidance must be >= 0, got {guidance}")

    def _check_index(self, index: np.ndarray) -> None:
        n_classes = self.prior.n_classes
        if n_classes == 0:
            raise ConfigError("this model was trained without labels; sample unconditionally")
        if index.min() < 0 or index.max() >= n_classes:
            raise ConfigError(f"class index out of range: this model knows 0..{n_classes - 1}")

    def _decode(
        self,
        n: int,
        class_index: np.ndarray | None,
        guidance: float,
        *,
        given: torch.Tensor | None,
        given_mask: torch.Tensor | None,
        steps: int | None,
        temperature: float | None,
        token_temperature: float | None = None,
        seed: int,
        batch_size: int,
        progress: bool,
    ) -> np.ndarray:
        """Token decoding in batches, then the tokenizer's decoder: (n, C, L) standardized."""
        steps = steps or self.sampling_steps
        temperature = self.gumbel_temperature if temperature is None else temperature
        token_temperature = self.token_temperature if token_temperature is None else token_temperature
        generator = torch.Generator(device=self.device).manual_seed(seed)
        n_batches = -(-n // batch_size)
        bands = 2 if hasattr(self.prior, "low") else 1
        bar = tqdm(total=n_batches * steps * bands, desc="sampling", unit="step", disable=not progress)
        parts = []
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            rows = slice(start, start + size)
            labels = None if class_index is None else torch.from_numpy(np.array(class_index[rows]))
            with mixed_precision(self.precision, self.device):
                tokens = sample_tokens(
                    self.prior,
                    size,
                    class_labels=labels,
                    steps=steps,
                    guidance=guidance,
                    temperature=temperature,
                    token_temperature=token_temperature,
                    generator=generator,
                    device=self.device,
                    given=None if given is None else given[rows],
                    given_mask=None if given_mask is None else given_mask[rows],
                    on_step=bar.update if progress else None,
                )
            with torch.inference_mode():
                parts.append(self.tokenizer.detokenize(tokens).cpu().numpy())
        bar.close()
        return np.concatenate(parts).astype(np.float32)


def _label_key(value: Any) -> str:
    """A label as the class names spell it: 1, 1.0, "1" and np.int64(1) are all "1"."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)


def _fill_linearly(x: np.ndarray, channel_means: tuple[float, ...]) -> np.ndarray:
    """Each NaN stretch of x (N, C, L) replaced by the straight line between its
    neighbours (the nearest observed value at an end; the channel's training mean where
    a series has no observed value in that channel)."""
    out = x.copy()
    steps = np.arange(x.shape[2])
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            nan = np.isnan(x[i, c])
            if nan.all():
                out[i, c] = channel_means[c]
            elif nan.any():
                out[i, c, nan] = np.interp(steps[nan], steps[~nan], x[i, c, ~nan])
    return out


def load_run(run_dir: str | Path) -> TrainedModel:
    """Load the tokenizer (and the prior, when trained) of a run folder."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise CheckpointError(f"run folder {folder.path} does not exist")
    tokenizer, meta = load_tokenizer(folder.tokenizer_path)
    prior, config = None, None
    if folder.prior_path.exists():
        prior, config = load_prior_with_config(folder.prior_path, tokenizer)
    elif folder.config_path.exists():
        config = folder.read_config()
    prior_config = config.prior if config else None
    return TrainedModel(
        tokenizer=tokenizer,
        prior=prior,
        standardizer=Standardizer(**meta["standardizer"]),
        class_names=tuple(meta["class_names"]),
        sampling_steps=prior_config.sampling_steps if prior_config else 10,
        gumbel_temperature=prior_config.gumbel_temperature if prior_config else 4.0,
        token_temperature=prior_config.token_temperature if prior_config else 1.0,
        precision=config.trainer.precision if config else "32-true",
    )

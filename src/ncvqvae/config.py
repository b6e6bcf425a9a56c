"""Every setting of a run, in one frozen config object, with presets and YAML round trip.

One :class:`RunConfig` travels through the whole pipeline and is saved as
``config.yaml`` in the run folder (and inside each checkpoint), so a run can always be
reproduced and a resumed run can be checked against the one it continues.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ncvqvae.errors import ConfigError

SSL_METHODS = ("none", "barlowtwins", "vicreg", "vibcreg", "byol", "simsiam")
AUGMENTATIONS = ("warp", "slice", "gauss")
PRESETS = ("cpu", "paper")
TOKENIZERS = ("vqvae", "timevqvae")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, and where to read it from.

    Args:
        dataset: a UCR/aeon dataset name (e.g. ``GunPoint``).
        data_dir: a folder in UCR 2018 layout; ``None`` means ``$NCVQVAE_DATA``, else
            the copies bundled with aeon.
        resample: resample every series to this length (the fix for unequal lengths).
        data_file: a ``.npy`` array (N, C, L) or (N, L) of the user's own series; when set,
            ``dataset`` only names the data, and a seeded stratified split makes the
            test part (``test_fraction``).
        labels_file: a ``.npy`` array (N,) of labels for ``data_file``; without it the
            data are unlabelled (tokenizer and an unconditional prior only).
    """

    dataset: str = "GunPoint"
    data_dir: str | None = None
    resample: int | None = None
    data_file: str | None = None
    labels_file: str | None = None
    test_fraction: float = 0.3


@dataclass(frozen=True)
class TokenizerConfig:
    """Stage-1 architecture (SPEC section 3).

    Args:
        hidden_dim: encoder/decoder width d, also the codeword dimension.
        n_resblocks: residual blocks after the downsampling blocks.
        codebook_size: K codewords.
        ema_decay: EMA decay of the codebook update.
        commitment_weight: beta of the commitment loss.
        kmeans_init: initialise the codebook by k-means on the first batch; avoids the
            dead codes a random init leaves when the latents sit far from it.
        dead_code_threshold: restart codes whose EMA cluster size falls below this
            (0 turns restarts off).
        n_fft, hop_length: the STFT's frame and hop.
        kind: ``vqvae`` (one band, SPEC section 3) or ``timevqvae`` (TimeVQVAE's split
            into a low band, STFT row 0, and a high band, rows 1..4, each with its own
            encoder, codebook and decoder).
        low_width, high_width: token-grid widths of the two bands in ``timevqvae`` mode.
    """

    kind: str = "vqvae"
    low_width: int = 8
    high_width: int = 32
    hidden_dim: int = 64
    n_resblocks: int = 4
    codebook_size: int = 32
    ema_decay: float = 0.9
    commitment_weight: float = 1.0
    kmeans_init: bool = True
    dead_code_threshold: float = 0.0
    n_fft: int = 8
    hop_length: int = 2


@dataclass(frozen=True)
class SSLConfig:
    """The non-contrastive branch (SPEC section 4). ``method="none"`` is the baseline.

    Args:
        method: ``none``, ``barlowtwins``, ``vicreg`` or ``vibcreg`` (the paper's), or
            ``byol`` / ``simsiam`` (predictive alternatives).
        augment: the augmentation set that makes the second view.
        projector: hidden sizes of the projector, dash separated.
        weight: w_ssl; ``None`` takes the method's default from the paper.
        aug_recon_weight: gamma, the weight of the augmented view's reconstruction.
        target_decay: EMA decay of BYOL's target network.
    """

    method: str = "none"
    augment: str = "warp"
    projector: str = "4096-4096-4096"
    weight: float | None = None
    aug_recon_weight: float = 0.1
    target_decay: float = 0.99


@dataclass(frozen=True)
class PriorConfig:
    """Stage-2 MaskGIT transformer and its sampler (SPEC section 5).

    Args:
        high_band_hidden_dim, high_band_n_layers: size of the second transformer when the
            tokenizer is TimeVQVAE's two-band one (``None``: the same as the first). The
            high band only adds local texture to a given low-band shape, over a token
            sequence several times longer, so TimeVQVAE gives it a far smaller network.
    """

    hidden_dim: int = 256
    n_layers: int = 4
    n_heads: int = 2
    ffn_mult: int = 4
    dropout: float = 0.1
    class_dropout: float = 0.2
    sampling_steps: int = 10
    gumbel_temperature: float = 4.0
    high_band_hidden_dim: int | None = None
    high_band_n_layers: int | None = None

    def for_high_band(self) -> PriorConfig:
        """The settings of the high-band transformer of a two-band prior."""
        return replace(
            self,
            hidden_dim=self.high_band_hidden_dim or self.hidden_dim,
            n_layers=self.high_band_n_layers or self.n_layers,
        )


@dataclass(frozen=True)
class OptimConfig:
    """One stage's training budget and optimiser (AdamW with a cosine schedule).

    Args:
        epochs: passes over the training split.
        max_steps: optional cap on optimiser steps (``None``: no cap); whichever of
            epochs and steps comes first ends training.
        batch_size: series per step (capped at the training-set size).
        lr, weight_decay: AdamW settings.
    """

    epochs: int = 1000
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-3


@dataclass(frozen=True)
class EvaluationConfig:
    """Budgets of the evaluator FCN, CAS and sampling for metrics.

    Args:
        fcn_epochs: maximum epochs of the evaluator FCN on the real training split.
        fcn_patience: early-stopping patience (epochs) on its held-out part.
        cas_steps: optimiser steps of the FCN trained on synthetic data (CAS) and of its
            real-data twin (TRTR), the same fixed budget for both.
        min_samples: at least this many unconditional samples for IS/FID.
        min_cas_samples: at least this many class-conditional samples for CAS.
        guidance: classifier-free guidance scale for class-conditional samples.
        tsne: draw t-SNE plots (slow for many points).
    """

    fcn_epochs: int = 300
    fcn_patience: int = 60
    cas_steps: int = 1000
    min_samples: int = 1024
    min_cas_samples: int = 1000
    guidance: float = 1.0
    tsne: bool = True


@dataclass(frozen=True)
class TrainerConfig:
    """Pass-through to Lightning's Trainer: where and how to train.

    Args:
        accelerator: ``auto``, ``cpu``, ``gpu``...
        devices: number of devices (or ``auto``).
        strategy: ``auto`` or ``ddp`` (one process per device).
        num_nodes: machines taking part (DDP across nodes).
        precision: e.g. ``32-true`` or ``bf16-mixed`` on GPUs.
    """

    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    progress_bar: bool = True


@dataclass(frozen=True)
class RunConfig:
    """The one config object of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    stage1: OptimConfig = field(default_factory=lambda: OptimConfig(batch_size=128))
    stage2: OptimConfig = field(default_factory=lambda: OptimConfig(batch_size=256))
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    preset: str = "paper"

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def override(self, *, skip_none: bool = True, **sections: Any) -> RunConfig:
        """Return a copy with some fields of some sections replaced.

        ``cfg.override(ssl={"method": "vicreg"}, seed=3)``: nested dicts for sections,
        plain values for top-level fields. With ``skip_none`` (the default) ``None``
        values are ignored, so that CLI options left unset keep the preset's value; pass
        ``skip_none=False`` to set a field to ``None`` (e.g. to lift a step cap).
        """
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            if value is None and skip_none:
                continue
            current = getattr(self, name)
            if dataclasses.is_dataclass(current):
                updates = {k: v for k, v in value.items() if v is not None or not skip_none}
                _check_keys(type(current), updates, name)
                changes[name] = replace(current, **updates)
            else:
                changes[name] = value
        return replace(self, **changes)


def validate(cfg: RunConfig) -> None:
    """Reject settings that would fail later, deep inside training."""
    if cfg.ssl.method not in SSL_METHODS:
        raise ConfigError(f"unknown SSL method {cfg.ssl.method!r}; choose one of {SSL_METHODS}")
    if cfg.ssl.augment not in AUGMENTATIONS:
        raise ConfigError(
            f"unknown augmentation set {cfg.ssl.augment!r}; choose one of {AUGMENTATIONS}"
        )
    if cfg.preset not in PRESETS + ("custom",):
        raise ConfigError(f"unknown preset {cfg.preset!r}; choose one of {PRESETS}")
    for stage in ("stage1", "stage2"):
        optim: OptimConfig = getattr(cfg, stage)
        if optim.epochs < 1:
            raise ConfigError(f"{stage}.epochs must be >= 1, got {optim.epochs}")
        if optim.batch_size < 1:
            raise ConfigError(f"{stage}.batch_size must be >= 1, got {optim.batch_size}")
    if cfg.tokenizer.kind not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer {cfg.tokenizer.kind!r}; choose one of {TOKENIZERS}")
    if cfg.tokenizer.codebook_size < 2:
        raise ConfigError("tokenizer.codebook_size must be >= 2")
    for name in ("high_band_hidden_dim", "high_band_n_layers"):
        value = getattr(cfg.prior, name)
        if value is not None and value < 1:
            raise ConfigError(f"prior.{name} must be >= 1 or unset (null), got {value}")
    for name, width in (
        ("hidden_dim", cfg.prior.hidden_dim),
        ("high_band_hidden_dim", cfg.prior.for_high_band().hidden_dim),
    ):
        if width % cfg.prior.n_heads:
            raise ConfigError(f"prior.{name} ({width}) must be divisible by prior.n_heads")
    if cfg.data.resample is not None and cfg.data.resample < 8:
        raise ConfigError("data.resample must be >= 8 (the STFT needs at least 8 points)")


def preset(name: str) -> RunConfig:
    """The named preset.

    ``paper`` is the reference setting (1000 epochs per stage, batch 128 / 256, AdamW
    1e-3, weight decay 1e-3, cosine) meant for a GPU, and decodes in SPEC's T = 10 steps.
    ``cpu`` keeps the architecture of the paper except a smaller projector, shallower
    residual stacks and a narrower prior without dropout, and caps each stage by optimiser
    steps, so that a small UCR dataset (GunPoint) runs end to end in minutes on two cores.
    How the budget is split was measured on GunPoint (``benchmarks/results/``):

    - The tokenizer gets 1200 steps. With the SSL branch, reconstruction converges slowly:
      after 600 steps the tokens have lost the fine detail of the series (FID of the
      reconstructions 1.41, against 0.84 after 1200).
    - The prior gets 2000 steps. Dropout off makes each step a third cheaper and costs
      nothing in FID.
    - Samples are decoded in T = 20 steps instead of 10. Each step draws its new tokens
      independently given the same context, and ten steps commit five a step on average,
      so tokens that suit different classes can land in one unconditional sample; a
      prior trained briefly on a few dozen series is far from the exact model that would
      make this harmless. On the same trained model FID is 1.14 at T = 10, 0.81 at T = 20
      and 0.77 at T = 30; sampling time grows linearly with T.
    """
    if name == "paper":
        return RunConfig(preset="paper")
    if name == "cpu":
        return RunConfig(
            preset="cpu",
            tokenizer=TokenizerConfig(n_resblocks=2),
            ssl=SSLConfig(projector="1024-1024-1024"),
            prior=PriorConfig(hidden_dim=128, dropout=0.0, sampling_steps=20),
            stage1=OptimConfig(epochs=2000, max_steps=1200, batch_size=64),
            stage2=OptimConfig(epochs=2000, max_steps=2000, batch_size=128),
            evaluation=EvaluationConfig(fcn_epochs=150, fcn_patience=40, cas_steps=600),
            trainer=TrainerConfig(accelerator="cpu"),
        )
    raise ConfigError(f"unknown preset {name!r}; choose one of {PRESETS}")


def _check_keys(cls: type, values: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown} in {where!r}; known: {sorted(known)}")


def from_dict(values: dict[str, Any]) -> RunConfig:
    """Build a config from a (possibly partial) nested dict, defaults filling the rest.

    A dict that names a ``preset`` starts from that preset.
    """
    values = dict(values)
    base = preset(values.pop("preset")) if "preset" in values else RunConfig()
    _check_keys(RunConfig, values, "config")
    return base.override(skip_none=False, **values)


def save_config(cfg: RunConfig, path: Path) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    tmp.replace(path)


def load_config(path: Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(values).__name__}")
    return from_dict(values)

"""Every setting of a run, in one frozen config object.

One :class:`RunConfig` travels through the whole pipeline and is saved as
``config.yaml`` in the run folder (and inside each export), so a run can always be
reproduced and a resumed run can be checked against the one it continues. Each field
declares its type and limits (:func:`~ncvqvae.config.constraints.setting`), and building a
``RunConfig`` checks them all, so a bad value fails with one line before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from ncvqvae.config.constraints import check_section, setting
from ncvqvae.config.ssl_schema import (
    AugmentationConfig,
    BarlowTwinsConfig,
    BYOLConfig,
    Data2VecConfig,
    DINOConfig,
    IterNormConfig,
    SimSiamConfig,
    SwAVConfig,
    VIbCRegConfig,
    VICRegConfig,
)
from ncvqvae.errors import ConfigError

SSL_METHODS = ("none", "barlowtwins", "vicreg", "vibcreg", "byol", "simsiam", "swav", "dino", "data2vec")
AUGMENTATIONS = ("warp", "slice", "gauss")
PRESETS = ("cpu", "paper")
TOKENIZERS = ("vqvae", "timevqvae")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true")
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")


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
        validation_fraction: the share of the training split both stages hold out to
            validate on (:mod:`ncvqvae.data.validation`); 0 trains on all of it and the
            loss curves' "val" is the test split, watched but never used to choose.
    """

    dataset: str = "GunPoint"
    data_dir: str | None = None
    resample: int | None = setting(None, ge=8)
    data_file: str | None = None
    labels_file: str | None = None
    test_fraction: float = setting(0.3, gt=0, lt=1)
    validation_fraction: float = setting(0.0, ge=0, lt=1)


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
        stem: ``strided`` (the input goes to the width in the first strided block, as
            SPEC and the authors' code; both presets) or ``full`` (a full-resolution
            first layer: the default only so that configs written before the choice
            existed build the tokenizer they trained).
    """

    kind: str = setting("vqvae", choices=TOKENIZERS)
    low_width: int = setting(8, ge=1)
    high_width: int = setting(32, ge=1)
    hidden_dim: int = setting(64, ge=1)
    n_resblocks: int = setting(4, ge=0)
    codebook_size: int = setting(32, ge=2)
    ema_decay: float = setting(0.9, gt=0, lt=1)
    commitment_weight: float = setting(1.0, ge=0)
    kmeans_init: bool = True
    dead_code_threshold: float = setting(0.0, ge=0)
    n_fft: int = setting(8, ge=2)
    hop_length: int = setting(2, ge=1)
    stem: str = setting("full", choices=("full", "strided"))


@dataclass(frozen=True)
class SSLConfig:
    """The self-supervised branch (SPEC section 4). ``method="none"`` is the baseline.

    Args:
        method: ``none``, ``barlowtwins``, ``vicreg`` or ``vibcreg`` (the paper's),
            ``byol`` / ``simsiam`` (predictive), ``swav`` (clustering), ``dino``
            (self-distillation) or ``data2vec`` (masked prediction of a teacher's latents).
        augment: the augmentation set that makes the second view.
        projector: hidden sizes of the projector, dash separated.
        weight: w_ssl for any method; ``None`` takes the method section's ``weight``.
        aug_recon_weight: gamma, the weight of the augmented view's reconstruction.
        barlowtwins ... data2vec: each method's own settings; iternorm: VIbCReg's
            whitening; augmentation: the magnitudes of the augmentations.
    """

    method: str = setting("none", choices=SSL_METHODS)
    augment: str = setting("warp", choices=AUGMENTATIONS)
    projector: str = "4096-4096-4096"
    weight: float | None = setting(None, ge=0)
    aug_recon_weight: float = setting(0.1, ge=0)
    barlowtwins: BarlowTwinsConfig = setting(factory=BarlowTwinsConfig)
    vicreg: VICRegConfig = setting(factory=VICRegConfig)
    vibcreg: VIbCRegConfig = setting(factory=VIbCRegConfig)
    iternorm: IterNormConfig = setting(factory=IterNormConfig)
    byol: BYOLConfig = setting(factory=BYOLConfig)
    simsiam: SimSiamConfig = setting(factory=SimSiamConfig)
    swav: SwAVConfig = setting(factory=SwAVConfig)
    dino: DINOConfig = setting(factory=DINOConfig)
    data2vec: Data2VecConfig = setting(factory=Data2VecConfig)
    augmentation: AugmentationConfig = setting(factory=AugmentationConfig)

    @property
    def method_weight(self) -> float:
        """w_ssl of the chosen method: ``weight`` when set, else the method's default."""
        if self.weight is not None:
            return self.weight
        return getattr(self, self.method).weight if self.method != "none" else 0.0


@dataclass(frozen=True)
class PriorConfig:
    """Stage-2 MaskGIT transformer and its sampler (SPEC section 5).

    Args:
        head_dim: width of each attention head (None: hidden_dim / n_heads); the
            authors' x-transformers prior uses 64, so 2 heads attend in 128 dimensions
            of a 256-wide model.
        norm: ``layernorm`` or ``rmsnorm`` (the authors' prior).
        token_noise: in training, the chance that each unmasked token is replaced by a
            random code, which the loss then asks to restore (0: off, the paper's prior).
        augmented_views: the prior also trains on the tokens of this many augmented views
            of each training series (the run's ``ssl.augment`` set and magnitudes): on a
            few dozen series, 2000 steps teach the prior those few dozen token sequences
            by heart, and its samples come out as near-copies (0: off, the paper's prior).
        high_band_hidden_dim, high_band_n_layers: size of the second transformer when the
            tokenizer is TimeVQVAE's two-band one (``None``: the same as the first). The
            high band only adds local texture to a given low-band shape, over a token
            sequence several times longer, so TimeVQVAE gives it a far smaller network.
        token_temperature: each decoding step draws its tokens from softmax(logits / this)
            (1: the prior's own distribution, as SPEC section 5 and MaskGIT sample; above 1
            flattens it). A sampling-time knob against near-copies of the training series:
            it needs no retraining, and what it costs in fidelity is measured by
            ``benchmarks/sampling_sweep.py``.
    """

    hidden_dim: int = setting(256, ge=1)
    n_layers: int = setting(4, ge=1)
    n_heads: int = setting(2, ge=1)
    ffn_mult: int = setting(4, ge=1)
    head_dim: int | None = setting(None, ge=1)
    norm: str = setting("layernorm", choices=("layernorm", "rmsnorm"))
    dropout: float = setting(0.1, ge=0, lt=1)
    class_dropout: float = setting(0.2, ge=0, le=1)
    token_noise: float = setting(0.0, ge=0, lt=1)
    augmented_views: int = setting(0, ge=0)
    sampling_steps: int = setting(10, ge=1)
    gumbel_temperature: float = setting(4.0, ge=0)
    token_temperature: float = setting(1.0, gt=0)
    high_band_hidden_dim: int | None = setting(None, ge=1)
    high_band_n_layers: int | None = setting(None, ge=1)

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
        select: which weights the stage exports: ``last``, or ``best``, those of the
            validation with the lowest validation loss (needs
            ``data.validation_fraction`` > 0: the choice never sees the test split).
        ema_decay: when set, the stage validates and exports an exponential moving
            average of its weights (and buffers) with this decay per step, which smooths
            the last steps' noise at no extra training; ``None``: the weights themselves.
    """

    epochs: int = setting(1000, ge=1)
    max_steps: int | None = setting(None, ge=1)
    batch_size: int = setting(128, ge=1)
    lr: float = setting(1e-3, gt=0)
    weight_decay: float = setting(1e-3, ge=0)
    select: str = setting("last", choices=("last", "best"))
    ema_decay: float | None = setting(None, gt=0, lt=1)


@dataclass(frozen=True)
class EvaluationConfig:
    """Budgets of the evaluator FCN, the generation scores and sampling for metrics.

    Args:
        fcn_epochs: maximum epochs of the evaluator FCN on the real training split (and of
            the CAS / TRTR classifiers).
        fcn_patience: early-stopping patience (epochs) of the evaluator on its held-out part.
        cas_steps: step cap of the CAS and TRTR classifiers (one recipe for both).
        cas_batch_size: their largest batch; a small training split uses a quarter of
            itself per batch, so this bounds the synthetic side's cost per step.
        cas_patience: their early-stopping patience, in epochs, on a held-out part of
            their own training source.
        repeats: R, independently generated sample sets (and classifier fits) behind every
            score's mean and std.
        halvings: random halvings of real test for the matched-count FID and its floor.
        post_hoc_steps: Adam steps of the post-hoc GRUs of the discriminative and
            predictive scores.
        rocket_kernels: ROCKET kernels of the second FID feature space.
        prdc_k: neighbours of precision / recall / density / coverage.
        min_samples: at least this many unconditional samples per set.
        min_cas_samples: at least this many class-conditional samples for CAS.
        guidance: classifier-free guidance scale for class-conditional samples.
        tsne: draw t-SNE plots (slow for many points).
    """

    fcn_epochs: int = setting(300, ge=1)
    fcn_patience: int = setting(60, ge=1)
    cas_steps: int = setting(1000, ge=1)
    cas_patience: int = setting(20, ge=1)
    cas_batch_size: int = setting(64, ge=1)
    repeats: int = setting(3, ge=1)
    halvings: int = setting(5, ge=1)
    post_hoc_steps: int = setting(300, ge=1)
    rocket_kernels: int = setting(1000, ge=1)
    prdc_k: int = setting(5, ge=1)
    min_samples: int = setting(1024, ge=2)
    min_cas_samples: int = setting(1000, ge=2)
    guidance: float = setting(1.0, ge=0)
    tsne: bool = True


@dataclass(frozen=True)
class TrainerConfig:
    """Pass-through to Lightning's Trainer: where and how to train.

    Args:
        accelerator: ``auto``, ``cpu``, ``gpu``...
        devices: number of devices (or ``auto``).
        strategy: ``auto`` or ``ddp`` (one process per device).
        num_nodes: machines taking part (DDP across nodes).
        precision: ``32-true``, or ``bf16-mixed`` on GPUs and on CPUs with bf16 matrix
            units (AMX: 1.45x to 1.8x faster training steps and sampling, measured in
            ``benchmarks/results/precision_speed_cpu.md``); the vector quantizer, the SSL
            losses, the STFT, tokenization and the whole evaluation stay float32.
        matmul_precision: ``highest`` (full fp32) or ``high`` (TF32 matmuls on Ampere and
            newer GPUs: about 8x the fp32 matrix throughput, 10 mantissa bits).
        deterministic: force deterministic algorithms (None: on CPUs yes, on GPUs no,
            where they are slower).
        compile: ``torch.compile`` the prior's transformer for training and sampling. Its
            steps are elementwise-bound at the paper's size, and fused kernels ran the
            MaskGIT step 1.16x (fp32) and 1.36x (bf16) faster on a 2-core CPU, sampling
            1.0x and 1.23x (``benchmarks/results/compile_speed_cpu.md``); but a cold compile
            took 13-27 s there (a one-off check), once per new batch shape and once more
            dynamically: it pays on long runs, not on the cpu preset's minutes.
    """

    accelerator: str = setting("auto", choices=ACCELERATORS)
    devices: int | str = 1
    strategy: str = setting("auto", choices=STRATEGIES)
    num_nodes: int = setting(1, ge=1)
    precision: str = setting("32-true", choices=PRECISIONS)
    matmul_precision: str = setting("highest", choices=("highest", "high", "medium"))
    deterministic: bool | None = None
    progress_bar: bool = True
    compile: bool = False


@dataclass(frozen=True)
class RunConfig:
    """The one config object of a run."""

    data: DataConfig = setting(factory=DataConfig)
    tokenizer: TokenizerConfig = setting(factory=TokenizerConfig)
    ssl: SSLConfig = setting(factory=SSLConfig)
    prior: PriorConfig = setting(factory=PriorConfig)
    stage1: OptimConfig = setting(factory=lambda: OptimConfig(batch_size=128))
    stage2: OptimConfig = setting(factory=lambda: OptimConfig(batch_size=256))
    evaluation: EvaluationConfig = setting(factory=EvaluationConfig)
    trainer: TrainerConfig = setting(factory=TrainerConfig)
    seed: int = setting(0, ge=0)
    preset: str = setting("paper", choices=(*PRESETS, "custom"))
    # "data": the step caps are the floor of a budget sized from the dataset (see
    # ncvqvae.config.budget); "data_work": the same, the prior's floor counted in series
    # seen at GunPoint's 50 a step; "fixed": the caps are the budget.
    budget: str = setting("fixed", choices=("fixed", "data", "data_work"))

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
        from ncvqvae.config.overlay import overlay

        if skip_none:
            sections = _drop_none(sections)
        return overlay(self, sections)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None
    }


def validate(cfg: RunConfig) -> None:
    """Reject settings that would fail later, deep inside training: every field's type and
    range, then the rules that tie fields together."""
    check_section(cfg, "")
    prior = cfg.prior
    for name, width in (
        ("hidden_dim", prior.hidden_dim),
        ("high_band_hidden_dim", prior.for_high_band().hidden_dim),
    ):
        if width % prior.n_heads and prior.head_dim is None:
            raise ConfigError(
                f"prior.{name} ({width}) must be divisible by prior.n_heads ({prior.n_heads})"
            )
    for stage in ("stage1", "stage2"):
        if getattr(cfg, stage).select == "best" and cfg.data.validation_fraction == 0:
            raise ConfigError(
                f"{stage}.select: best chooses a checkpoint on a validation split, and "
                "data.validation_fraction is 0; set it (e.g. 0.2) so the choice never sees the test split"
            )
    devices = cfg.trainer.devices
    if isinstance(devices, str) and devices != "auto" or isinstance(devices, int) and devices < 1:
        raise ConfigError(f"trainer.devices must be a positive integer or 'auto', got {devices!r}")

"""The settings of every self-supervised method and of the augmentations, one section
per method, each default the value the method's code used before it was configurable.

The sources of the defaults (the README's SSL table lists them with the paper's values):
Barlow Twins (Zbontar et al., ICML 2021), VICReg (Bardes et al., ICLR 2022), VIbCReg (Lee
and Aune, 2021), NC-VQVAE's weights w_ssl (Mathisen et al., 2024), BYOL (Grill et al.,
NeurIPS 2020), SimSiam (Chen and He, CVPR 2021), SwAV (Caron et al., NeurIPS 2020), DINO
(Caron et al., ICCV 2021), data2vec (Baevski et al., ICML 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

from ncvqvae.config.constraints import setting

EMA_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class BarlowTwinsConfig:
    """weight: w_ssl; lambda_offdiag (alias ``lambda``): weight of the off-diagonal
    (redundancy) term; eps: added to the variance when standardizing columns."""

    weight: float = setting(1.0, ge=0)
    lambda_offdiag: float = setting(0.005, ge=0, alias="lambda")
    eps: float = setting(1e-5, gt=0)


@dataclass(frozen=True)
class VICRegConfig:
    """weight: w_ssl; sim, var, cov: the weights of invariance, variance and covariance."""

    weight: float = setting(0.01, ge=0)
    sim: float = setting(25.0, ge=0)
    var: float = setting(25.0, ge=0)
    cov: float = setting(1.0, ge=0)
    eps: float = setting(1e-4, gt=0)


@dataclass(frozen=True)
class VIbCRegConfig:
    """As VICReg; the covariance term is on normalised (correlation) matrices."""

    weight: float = setting(0.01, ge=0)
    sim: float = setting(25.0, ge=0)
    var: float = setting(25.0, ge=0)
    cov: float = setting(100.0, ge=0)
    eps: float = setting(1e-4, gt=0)


@dataclass(frozen=True)
class IterNormConfig:
    """VIbCReg's whitening: features per group (VIbCReg: 64 groups of 64 at 4096),
    Newton-Schulz iterations T, running-average momentum."""

    group_size: int = setting(64, ge=1)
    iterations: int = setting(5, ge=1)
    momentum: float = setting(0.1, gt=0, le=1)


@dataclass(frozen=True)
class BYOLConfig:
    """ema_decay: the target's decay tau; ema_schedule: ``constant`` or ``cosine`` (BYOL's
    ramp 1 - (1 - tau) (cos(pi k / K) + 1) / 2 towards 1); predictor_hidden: None =
    max(F // 4, 16)."""

    weight: float = setting(1.0, ge=0)
    ema_decay: float = setting(0.99, ge=0, le=1)
    ema_schedule: str = setting("constant", choices=EMA_SCHEDULES)
    predictor_hidden: int | None = setting(None, ge=1)


@dataclass(frozen=True)
class SimSiamConfig:
    weight: float = setting(1.0, ge=0)
    predictor_hidden: int | None = setting(None, ge=1)


@dataclass(frozen=True)
class SwAVConfig:
    """prototypes: K (SwAV: 3000 for ImageNet); temperature: of the swapped prediction;
    epsilon and sinkhorn_iterations: the Sinkhorn-Knopp entropy and steps;
    freeze_prototypes_steps: optimiser steps before the prototypes learn (SwAV: one
    epoch)."""

    weight: float = setting(1.0, ge=0)
    prototypes: int = setting(32, ge=2)
    temperature: float = setting(0.1, gt=0)
    epsilon: float = setting(0.05, gt=0)
    sinkhorn_iterations: int = setting(3, ge=1)
    freeze_prototypes_steps: int = setting(50, ge=0)


@dataclass(frozen=True)
class DINOConfig:
    """out_dim: the head's width K (DINO: 65536); student_temperature, teacher_temperature:
    the two softmax temperatures (sharpening); center_momentum: of the teacher's centre;
    ema_decay / ema_schedule: the teacher's EMA, cosine towards 1 as in DINO."""

    weight: float = setting(1.0, ge=0)
    out_dim: int = setting(256, ge=2)
    student_temperature: float = setting(0.1, gt=0)
    teacher_temperature: float = setting(0.04, gt=0)
    center_momentum: float = setting(0.9, ge=0, lt=1)
    ema_decay: float = setting(0.996, ge=0, le=1)
    ema_schedule: str = setting("cosine", choices=EMA_SCHEDULES)


@dataclass(frozen=True)
class Data2VecConfig:
    """mask_ratio: share of the series' time masked for the student, in spans of
    span_ratio of the length; top_k: teacher blocks averaged into the target (data2vec:
    the top 8 of 12); ema_decay -> ema_end: the teacher's EMA, raised linearly over
    training (data2vec: 0.999 -> 0.9999); loss_beta: smooth-L1 transition (0: MSE)."""

    weight: float = setting(1.0, ge=0)
    mask_ratio: float = setting(0.5, gt=0, lt=1)
    span_ratio: float = setting(0.1, gt=0, le=1)
    top_k: int = setting(2, ge=1)
    ema_decay: float = setting(0.999, ge=0, le=1)
    ema_end: float = setting(0.9999, ge=0, le=1)
    loss_beta: float = setting(0.0, ge=0)


@dataclass(frozen=True)
class AugmentationConfig:
    """Magnitudes of the augmentations that make the second view (SPEC section 2)."""

    amplitude_std: float = setting(0.2, ge=0)
    warp_window: float = setting(0.4, gt=0, le=1)
    warp_scale_min: float = setting(0.9, gt=0)
    warp_scale_max: float = setting(2.0, gt=0)
    slices: int = setting(4, ge=1)
    noise_std: float = setting(0.05, ge=0)

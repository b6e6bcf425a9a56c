"""The named presets: ``paper`` (the reference setting, for a GPU) and ``cpu``."""

from __future__ import annotations

from ncvqvae.config.schema import (
    PRESETS,
    EvaluationConfig,
    OptimConfig,
    PriorConfig,
    RunConfig,
    SSLConfig,
    TokenizerConfig,
    TrainerConfig,
)
from ncvqvae.errors import ConfigError


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
        # The authors' prior (their configs/config.yaml): feed-forward multiplier 1,
        # RMSNorm, no dropout, 2 heads of 64 (x-transformers' default head width).
        return RunConfig(
            preset="paper",
            tokenizer=TokenizerConfig(stem="strided"),
            prior=PriorConfig(ffn_mult=1, dropout=0.0, head_dim=64, norm="rmsnorm"),
        )
    if name == "cpu":
        return RunConfig(
            preset="cpu",
            budget="data",
            tokenizer=TokenizerConfig(n_resblocks=2, stem="strided"),
            ssl=SSLConfig(projector="1024-1024-1024"),
            prior=PriorConfig(hidden_dim=128, dropout=0.0, sampling_steps=20),
            stage1=OptimConfig(epochs=2000, max_steps=1200, batch_size=64),
            stage2=OptimConfig(epochs=2000, max_steps=2000, batch_size=128),
            # Sized so that a short dataset's whole evaluation takes minutes, not half an hour,
            # on 2 cores; what each metric costs is in every run's timing.metrics_s (the
            # study benchmarks/studies/evaluation_gunpoint.yaml records it over seeds).
            evaluation=EvaluationConfig(
                fcn_epochs=150,
                fcn_patience=40,
                cas_steps=250,
                cas_batch_size=32,
                post_hoc_steps=100,
                min_samples=256,
                min_cas_samples=300,
            ),
            trainer=TrainerConfig(accelerator="cpu"),
        )
    raise ConfigError(f"unknown preset {name!r}; choose one of {PRESETS}")



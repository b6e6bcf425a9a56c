"""A training budget that follows the data: the cpu preset's step counts, sized from the
dataset within a time envelope.

The cpu preset was tuned on GunPoint (50 series of length 150), where 1200 tokenizer
steps of 64 series are 1500 passes over the data. On a dataset of 500 series the same
steps are 150 passes, while the paper's 1000 epochs are 1000: the fixed budget starves
larger datasets. With ``budget: data`` each stage takes enough steps for a number of
passes over the training split, never fewer than the preset's steps, and never more than
a time envelope allows: the work of a stage grows with batch x length x channels (stage
1) or batch x tokens (stage 2), and the envelope is the preset's work on a 150-long
univariate series times ``ENVELOPE``.

``budget: data_work`` reads the prior's preset steps as the work they are on GunPoint,
steps of 50 series: where a prior batch holds more series (up to 128), the floor has
proportionally fewer steps. On ECG200 (100 series) the preset's 2000 prior steps are 2000
passes, twice GunPoint's work a step, and the prior is the stage that overfits (its loss
on held-out tokens is lowest a few hundred steps in) and that sets the run's time. The
tokenizer's floor stays in steps: its batch of 64 is close to GunPoint's 50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ncvqvae.config.schema import RunConfig

STAGE1_PASSES = 300  # passes over the training split the tokenizer should get
STAGE2_PASSES = 300
REFERENCE_LENGTH = 150  # GunPoint, where the preset's step counts were measured
REFERENCE_TOKENS = 50
REFERENCE_SERIES = 50  # GunPoint's training split: the series in each of its steps
ENVELOPE = 2.0  # the strided stem halved a stage-1 step's work; the time it freed


@dataclass(frozen=True)
class Budget:
    """Steps chosen for each stage, and why."""

    stage1_steps: int
    stage2_steps: int
    reason: str


def _steps(floor: int, passes: int, n_train: int, batch: int, cap: int, origin: str = "the preset's") -> tuple[int, str]:
    wanted = math.ceil(passes * n_train / max(min(batch, n_train), 1))
    steps = min(max(floor, wanted), max(cap, floor))
    if steps == floor and wanted <= floor:
        why = f"{floor} ({origin}; {passes} passes need only {wanted})"
    elif steps == floor:
        why = f"{floor} ({origin}: the time envelope allows no more; {passes} passes would need {wanted})"
    elif steps == wanted:
        why = f"{steps} ({passes} passes over {n_train} series)"
    else:
        why = f"{steps} (the time envelope; {passes} passes would need {wanted})"
    return steps, why


def plan_budget(config: RunConfig, *, n_train: int, length: int, n_channels: int, n_tokens: int | None = None) -> Budget:
    """The step counts of ``config`` for a dataset of ``n_train`` series (N, C, L)."""
    s1, s2 = config.stage1, config.stage2
    floor1 = s1.max_steps or 1
    floor2 = s2.max_steps or 1
    cap1 = int(ENVELOPE * floor1 * REFERENCE_LENGTH / (length * n_channels))
    tokens = n_tokens or max(1, round(REFERENCE_TOKENS * length / REFERENCE_LENGTH))
    cap2 = int(ENVELOPE * floor2 * REFERENCE_TOKENS / tokens)
    origin2 = "the preset's"
    per_step = min(s2.batch_size, n_train)
    if config.budget == "data_work" and per_step > REFERENCE_SERIES:
        preset_floor, floor2 = floor2, max(1, round(floor2 * REFERENCE_SERIES / per_step))
        origin2 = f"the preset's {preset_floor} at {REFERENCE_SERIES} series a step, here {per_step}"
    steps1, why1 = _steps(floor1, STAGE1_PASSES, n_train, s1.batch_size, cap1)
    steps2, why2 = _steps(floor2, STAGE2_PASSES, n_train, s2.batch_size, cap2, origin2)
    return Budget(steps1, steps2, f"tokenizer steps {why1}; prior steps {why2}")


def apply_budget(config: RunConfig, budget: Budget) -> RunConfig:
    return config.override(stage1={"max_steps": budget.stage1_steps}, stage2={"max_steps": budget.stage2_steps})

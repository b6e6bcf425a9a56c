"""The cpu preset's budget follows the data: its steps for a few dataset shapes."""

from __future__ import annotations

import pytest

from ncvqvae.config import preset
from ncvqvae.config.budget import plan_budget


@pytest.mark.parametrize(
    ("n", "length", "channels", "stage1", "stage2", "words"),
    [
        (50, 150, 1, 1200, 2000, "the preset's; 300 passes need only 300"),  # GunPoint: as tuned
        (100, 96, 1, 1200, 2000, "need only 469"),  # ECG200
        (500, 140, 1, 2344, 2000, "2344 (300 passes over 500 series)"),  # more data, more steps
        (1000, 250, 1, 1440, 2344, "1440 (the time envelope"),  # capped by the envelope
        (3601, 500, 1, 1200, 2000, "allows no more"),  # FordA: long series, the preset's floor
    ],
)
def test_steps_for_dataset_shapes(n: int, length: int, channels: int, stage1: int, stage2: int, words: str) -> None:
    budget = plan_budget(preset("cpu"), n_train=n, length=length, n_channels=channels)
    assert (budget.stage1_steps, budget.stage2_steps) == (stage1, stage2)
    assert words in budget.reason


def test_the_paper_preset_keeps_its_own_budget() -> None:
    assert preset("paper").budget == "fixed" and preset("cpu").budget == "data"


def test_a_run_records_the_budget_it_chose(tmp_path) -> None:  # noqa: ANN001
    from ncvqvae.pipeline import open_run

    ctx = open_run(preset("cpu").override(stage1={"max_steps": 10}, stage2={"max_steps": 10}), tmp_path / "run")
    assert ctx.config.stage1.max_steps == 20  # GunPoint: 300 passes need 300; the envelope allows 20
    recorded = ctx.folder.read_metrics()["budget"]
    assert recorded["tokenizer_steps"] == 20 and "time envelope" in recorded["reason"]
    assert ctx.folder.read_config().budget == "data"  # the folder keeps the config as asked


@pytest.mark.parametrize(
    ("n", "stage2", "words"),
    [
        (50, 2000, "the preset's; 300 passes need only 300"),  # GunPoint: 50 a step, as tuned
        (23, 2000, "the preset's; 300 passes need only 300"),  # fewer series a step: no more steps
        (100, 1000, "the preset's 2000 at 50 series a step, here 100; 300 passes need only 300"),  # ECG200
        (500, 1172, "1172 (300 passes over 500 series)"),  # the passes rule still binds
    ],
)
def test_data_work_counts_the_priors_floor_in_series_seen(n: int, stage2: int, words: str) -> None:
    config = preset("cpu").override(budget="data_work")
    budget = plan_budget(config, n_train=n, length=140, n_channels=1)
    assert budget.stage2_steps == stage2 and words in budget.reason
    assert budget.stage1_steps == plan_budget(preset("cpu"), n_train=n, length=140, n_channels=1).stage1_steps

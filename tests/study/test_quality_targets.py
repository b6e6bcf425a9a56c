"""The quality-target table: per-seed figures, their spread and the count against a target."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from ncvqvae.study.report import CellRow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_targets.py"


@pytest.fixture(scope="module")
def targets():
    spec = importlib.util.spec_from_file_location("quality_targets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _cell(
    dataset: str, seed: int, fid: float, recon: float, setting: str = "s", **extra: float
) -> CellRow:
    metrics = {
        "generation.fid": fid,
        "generation.fid_recon": recon,
        "generation.fid_real": 0.5,
        **extra,
    }
    return CellRow(dataset, setting, seed, "finished", metrics)


def test_a_dataset_meets_a_target_by_the_mean_over_its_seeds(targets):
    rows = [_cell("A", 0, 2.0, 1.0), _cell("A", 1, 3.0, 2.0), _cell("B", 0, 4.0, 1.0)]
    fid = next(t for t in targets.TARGETS if t.name.startswith("samples'"))
    by_dataset = targets.per_dataset(rows, fid.figure)
    assert by_dataset["A"].mean == pytest.approx(5.0) and by_dataset["A"].std == pytest.approx(
        math.sqrt(2)
    )
    assert by_dataset["A"].n == 2 and by_dataset["B"].n == 1 and math.isnan(by_dataset["B"].std)
    assert targets.meets(fid, by_dataset["A"]) and not targets.meets(fid, by_dataset["B"])


def test_failed_cells_and_missing_metrics_are_not_counted(targets):
    rows = [
        _cell("A", 0, 2.0, 1.0),
        CellRow("A", "s", 1, "failed", {}),
        CellRow("A", "s", 2, "finished", {}),
    ]
    fid = next(t for t in targets.TARGETS if t.name.startswith("samples'"))
    assert targets.per_dataset(rows, fid.figure)["A"].n == 1


def test_the_table_counts_datasets_and_says_whether_the_target_is_met(targets):
    before = [_cell("A", 0, 40.0, 30.0), _cell("B", 0, 40.0, 30.0)]
    after = [_cell("A", s, 2.0, 1.0) for s in range(3)] + [
        _cell("B", s, 9.0, 1.0) for s in range(3)
    ]
    text = targets.table(before, after, None, ssl="bt", baseline="none", required=2)
    fid_block = text.split("### samples'")[1].split("###")[0]
    assert "After: 1 of 2 datasets (needed: 2) - **not met**; before: 0." in fid_block
    recon_block = text.split("### reconstructions'")[1].split("###")[0]
    assert "After: 2 of 2 datasets (needed: 2) - **met**" in recon_block
    assert "| A | 80.0x (n=1) | 4.0x ± 0.0 (n=3) | yes |" in fid_block
    # The time budget binds every dataset: one over it fails the target.
    timed = [
        _cell(d, s, 2.0, 1.0, **{"timing.prior_s": 60.0 * minutes})
        for d, minutes in (("A", 10), ("B", 25))
        for s in range(3)
    ]
    time_block = targets.table([], timed, None, ssl="bt", baseline="none", required=1).split("### minutes")[1]
    assert "After: 1 of 2 datasets (needed: 2, every one) - **not met**" in time_block


def test_the_probe_gap_is_paired_by_seed(targets):
    def probe(dataset, setting, seed, svm):
        return CellRow(dataset, setting, seed, "finished", {"tokenizer.probe.svm": svm})

    rows = [
        probe("A", "bt", 0, 0.9),
        probe("A", "none", 0, 0.8),
        probe("A", "bt", 1, 0.7),
        probe("A", "none", 1, 0.75),
        probe("A", "bt", 2, 0.95),
    ]  # seed 2 has no baseline: left out of the pairs
    bt, base, gap, above = targets.probe_gaps(rows, "bt", "none")["A"]
    assert (bt.n, base.n, gap.n, above) == (3, 2, 2, 1)
    assert gap.mean == pytest.approx(0.025)
    assert gap.text("{:+.3f}") == "+0.025 ± 0.106 (n=2)"  # a spread has no sign
    text = targets.table([], rows, rows, ssl="bt", baseline="none", required=1)
    assert "1 of 1 datasets (1 with probe cells, at least 2 paired seed(s) each) (needed: 1) - **met**; above at every paired seed on 0." in text
    assert "| +0.025 ± 0.106 (n=2) | 1 of 2 | yes |" in text
    # Fewer seeds than the study has: the verdict is provisional and says so.
    text = targets.table([], rows, rows, ssl="bt", baseline="none", required=1, seeds=3)
    assert "(needed: 1) - **met so far (2 of 3 seeds)**;" in text


def test_the_diagnosis_shows_the_tokenizers_memorisation_and_the_priors_share(targets):
    extra = {
        "generation_counts.n_real_train": 30.0,
        "tokenizer.recon_mse_train": 0.001,
        "tokenizer.recon_mse": 0.1,
    }
    rows = [_cell("A", s, 2.0, 8.0, **extra) for s in range(2)]
    text = targets.diagnosis(rows)
    assert "| A | 30 ± 0 (n=2) | 0.0010 ± 0.0000 (n=2) | 0.1000 ± 0.0000 (n=2) | 100x ± 0 (n=2) | 0.25 ± 0.00 (n=2) |" in text
    assert "near-copy" not in text  # no cell scored it


def test_the_diagnosis_sets_the_samples_near_copies_beside_the_reconstructions(targets):
    rows = [
        _cell("A", 0, 2.0, 8.0, **{"generation.near_copy_rate": 0.9, "generation.near_copy_rate_recon": 0.1}),
        _cell("A", 1, 2.0, 8.0, **{"generation.near_copy_rate": 0.7}),
    ]
    text = targets.diagnosis(rows)
    assert "| samples' near-copy rate | reconstructions' near-copy rate |" in text
    assert "| 0.80 ± 0.14 (n=2) | 0.10 (n=1) |" in text

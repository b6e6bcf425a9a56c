"""compare: warnings when runs were measured differently, the better value marked, and
names that never collide."""

from __future__ import annotations

import json
from pathlib import Path

from ncvqvae.evaluation.compare import compare_runs


def _run(root: Path, name: str, fid: float, n_sets: int = 3, evaluator: str = "/cache/gp.pt") -> Path:
    folder = root / name
    folder.mkdir()
    metrics = {
        "dataset": "GunPoint", "ssl": "barlowtwins", "seed": 0, "data_fingerprint": "abc",
        "evaluator": {"path": evaluator, "test_accuracy": 0.99},
        "generation": {"fid": fid, "fid_std": 0.1, "cas": 0.9, "near_copy_rate": 0.2},
        "generation_counts": {"metrics_version": 2, "n_sets": n_sets, "n_unconditional": 1024, "n_per_set": 75},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_alike_runs_get_no_warning_and_the_better_value_in_bold(tmp_path: Path) -> None:
    text = compare_runs([_run(tmp_path, "a", 1.5), _run(tmp_path, "b", 0.8)])
    assert "warning" not in text
    header = next(line for line in text.splitlines() if line.startswith("| metric"))
    # Same dataset, method and seed: the folder names tell the columns apart.
    assert "GunPoint / barlowtwins / seed 0 (a)" in header and "(b)" in header
    fid_row = next(line for line in text.splitlines() if line.startswith("| generation.fid |"))
    assert "| lower |" in fid_row and "**0.8 ± 0.1**" in fid_row and "**1.5" not in fid_row


def test_runs_measured_differently_are_flagged(tmp_path: Path) -> None:
    text = compare_runs([_run(tmp_path, "a", 1.5), _run(tmp_path, "b", 0.8, n_sets=1, evaluator="/other.pt")])
    assert "warning: the runs differ in evaluator" in text
    assert "warning: the runs differ in sample sets" in text
    assert text.index("warning") < text.index("| metric")

"""Score the samples of finished cells again, every dataset's cells in one evaluator.

    python benchmarks/rescore_fid.py \
        --cache benchmarks/results/study_quality_after_cpu/.study/cache \
        --out benchmarks/results/fid_one_evaluator_cpu.md \
        benchmarks/results/study_quality_after_cpu \
        benchmarks/results/study_quality_screen_prior_budget_cpu

FID and its floor are measured in the evaluator FCN's features. Cells of one study that
ran in different sessions may have been scored by evaluators trained on different machines
(same data and settings, other last bits), whose floors differed by up to 61% in the quality study; their
FID / floor ratios then mix two sources of spread. Each cell keeps its unconditional
samples (``samples.npz``), so their matched-count FID and its floor can be computed again
in the one evaluator per dataset that ``--cache`` holds (trained there on first use), on
the same halvings and with the same seed as the run. A cell scored by that evaluator
reproduces its recorded FID to float rounding. Writes a table per dataset and setting:
the recorded ratio (each cell's own evaluator) beside the rescored one, mean ± std over
seeds, and the ROCKET ratio, which needs no trained evaluator.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from run_data import load_run_data

from ncvqvae.evaluation.evaluator import cache_at
from ncvqvae.evaluation.fcn import extract_features
from ncvqvae.evaluation.generation import FLOOR_SEED
from ncvqvae.evaluation.matched import Halvings, matched_fid
from ncvqvae.pipeline import EVALUATOR_SEED


def finished_cells(study: Path) -> list[Path]:
    """Cell folders (<dataset>/<setting>/seed<k>) with generation metrics and samples."""
    cells = []
    for metrics in sorted(study.glob("*/*/seed*/metrics.json")):
        if "generation" in json.loads(metrics.read_text()) and (metrics.parent / "samples.npz").is_file():
            cells.append(metrics.parent)
    return cells


def rescore(cell: Path) -> dict[str, float]:
    """The cell's FID and floor in the evaluator of the current cache."""
    run = load_run_data(cell)
    halvings = Halvings.draw(len(run.x_test), run.config.evaluation.halvings, FLOOR_SEED)
    with np.load(cell / "samples.npz") as stored:  # saved in the data's own scale
        sets = stored["unconditional_sets"] if "unconditional_sets" in stored else stored["unconditional"][None]
        sets = [run.standardizer.transform(x) for x in sets]
    real = extract_features(run.evaluator, run.x_test)
    fake = [extract_features(run.evaluator, x) for x in sets]
    scored = matched_fid(real, fake, halvings, seed=EVALUATOR_SEED)
    recorded = json.loads((cell / "metrics.json").read_text())["generation"]
    return {
        "fid": scored.fid,
        "fid_real": scored.floor,
        "recorded_ratio": recorded["fid"] / recorded["fid_real"],
        "recorded_fid_real": recorded["fid_real"],
        "rocket_ratio": recorded["rocket_fid"] / recorded["rocket_fid_real"],
    }


def _pm(values: list[float], fmt: str = "{:.2f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0]) + " (n=1)"
    return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))} (n={len(values)})"


def table(rows: dict[tuple[str, str, str], list[dict[str, float]]]) -> list[str]:
    lines = [
        "| dataset | study | setting | FID / floor, one evaluator | its floor | FID / floor as recorded | floors as recorded | ROCKET FID / floor |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for (dataset, study, setting), scores in sorted(rows.items()):
        floors = sorted({round(s["recorded_fid_real"], 3) for s in scores})
        lines.append(
            f"| {dataset} | {study} | {setting} | {_pm([s['fid'] / s['fid_real'] for s in scores])}x "
            f"| {scores[0]['fid_real']:.3f} | {_pm([s['recorded_ratio'] for s in scores])}x "
            f"| {', '.join(f'{f:.3f}' for f in floors)} | {_pm([s['rocket_ratio'] for s in scores])}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", type=Path, nargs="+")
    parser.add_argument("--cache", type=Path, required=True, help="the evaluator cache every cell is scored in")
    parser.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    with cache_at(args.cache):
        for study in args.studies:
            for cell in finished_cells(study):
                dataset, setting = cell.parent.parent.name, cell.parent.name
                if args.dataset and dataset not in args.dataset:
                    continue
                scores = rescore(cell)
                print(f"{study.name}/{dataset}/{setting}/{cell.name}: FID / floor {scores['fid'] / scores['fid_real']:.2f}x "
                      f"(recorded {scores['recorded_ratio']:.2f}x)", flush=True)
                rows[(dataset, study.name, setting)].append(scores)
    lines = [
        "# FID of finished cells, every dataset's cells scored in one evaluator",
        "",
        "Written by `python benchmarks/rescore_fid.py --cache "
        f"{args.cache} {' '.join(str(s) for s in args.studies)}"
        + "".join(f" --dataset {d}" for d in args.dataset or []) + (f" --out {args.out}`" if args.out else "`")
        + ". Mean ± std over seeds (ddof 1). FID and its floor as the run computes them (matched "
        "counts, the same halvings and seed), in the evaluator FCN of `--cache`; beside them the ratio each "
        "cell recorded in its own evaluator, and the ROCKET ratio (random kernels, no training).",
        "",
        *table(rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

"""Sampling settings against near-copies: score a trained run's samples under other
decoding settings, with no retraining.

    python benchmarks/sampling_sweep.py \
        benchmarks/results/study_quality_screen_cpu/TwoLeadECG/two_band_small_high/seed0 \
        --cache benchmarks/results/study_quality_screen_cpu/.study/cache \
        --token-temperature 1 1.5 2 --gumbel-temperature 4 \
        --csv benchmarks/results/sampling_sweep_cpu.csv --out benchmarks/results/sampling_sweep_cpu.md

On the small training sets of the quality study the prior reproduces training series
(near-copy rates 0.56 to 0.98), and every training-time change tried against it (a short
prior, a validation-chosen step, augmented views) also cost fidelity. The decoding
settings are the cheapest place to trade the two: a token temperature above 1 flattens
each draw, a larger Gumbel temperature randomises the order tokens are committed in,
fewer steps commit more tokens at once. Each setting is scored exactly as the run scores
its own samples (``draw_samples`` and ``evaluate_samples``, the run's seed, the evaluator
of ``--cache``), so the run's own settings reproduce its recorded metrics, which the
script prints beside the ones it measures (and a test checks). Sampling needs the cell's
weights (``tokenizer.pt``, ``prior.pt``), which studies keep on the machine that trained
them but not in git; ``--table-only`` needs only what git keeps. Rows are appended to
``--csv`` as they finish; a rerun skips the rows already there.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

from run_data import load_run_data

from ncvqvae.evaluation.evaluator import cache_at
from ncvqvae.evaluation.generation import draw_samples, evaluate_samples
from ncvqvae.evaluation.tokens import encode_split
from ncvqvae.model.trained import load_run
from ncvqvae.pipeline import EVALUATOR_SEED
from ncvqvae.run_folder import RunFolder

COLUMNS = [
    "dataset", "setting", "seed", "token_temperature", "gumbel_temperature", "steps",
    "fid_ratio", "fid_ratio_std", "rocket_fid_ratio", "fid_recon_ratio", "near_copy_rate",
    "nn_train_ratio", "cas_trtr_ratio", "cond_acc", "is_mean", "sampling_s", "recorded",
]


@dataclasses.dataclass(frozen=True)
class Decoding:
    """One point of the sweep: a run and the decoding settings to sample it with."""

    cell: Path
    token_temperature: float
    gumbel_temperature: float
    steps: int
    own: bool  # the run's own settings: its recorded metrics must come back

    @classmethod
    def of(cls, cell: Path, token_temperature: float, gumbel_temperature: float | None, steps: int | None) -> Decoding:
        prior = RunFolder(cell).read_config().prior
        gumbel = prior.gumbel_temperature if gumbel_temperature is None else gumbel_temperature
        steps = steps or prior.sampling_steps
        own = (token_temperature, gumbel, steps) == (prior.token_temperature, prior.gumbel_temperature, prior.sampling_steps)
        return cls(cell, token_temperature, gumbel, steps, own)

    @property
    def key(self) -> tuple[str, ...]:
        return (self.cell.parent.parent.name, self.cell.parent.name, self.cell.name.removeprefix("seed"),
                *(f"{v:g}" for v in (self.token_temperature, self.gumbel_temperature, self.steps)))


def score(point: Decoding) -> dict:
    """The run's generation metrics under the point's decoding settings."""
    cell = point.cell
    run = load_run_data(cell)
    model = dataclasses.replace(
        load_run(cell),
        token_temperature=point.token_temperature,
        gumbel_temperature=point.gumbel_temperature,
        sampling_steps=point.steps,
    )
    start = time.perf_counter()
    samples = draw_samples(model, run.data, run.config.evaluation, seed=run.config.seed)
    sampling_s = time.perf_counter() - start
    report = evaluate_samples(
        samples, run.x_train, run.data.y_train, run.x_test, run.data.y_test, run.data.n_classes,
        run.evaluator, run.config.evaluation, seed=EVALUATOR_SEED, progress=False,
        reconstructed_test=encode_split(model.tokenizer, run.x_test).reconstruction,
    )
    g = report.metrics
    recorded = json.loads((cell / "metrics.json").read_text()).get("generation", {})
    recorded_fid = f"FID {recorded['fid']:.6g} recorded, {g['fid']:.6g} here" if point.own and "fid" in recorded else ""
    return row_of(point, g, round(sampling_s, 1), recorded_fid)


def row_of(point: Decoding, g: dict, sampling_s: float | str, recorded: str) -> dict:
    """A CSV row: the point's settings and its generation metrics as ratios to their floors."""
    return {
        **dict(zip(COLUMNS[:6], point.key, strict=True)),
        "fid_ratio": g["fid"] / g["fid_real"],
        "fid_ratio_std": g["fid_std"] / g["fid_real"],
        "rocket_fid_ratio": g["rocket_fid"] / g["rocket_fid_real"],
        "fid_recon_ratio": g["fid_recon"] / g["fid_real"],
        "near_copy_rate": g["near_copy_rate"],
        "nn_train_ratio": g["nn_train_ratio"],
        "cas_trtr_ratio": g["cas"] / g["trtr"],
        "cond_acc": g["cond_acc"],
        "is_mean": g["is_mean"],
        "sampling_s": sampling_s,
        "recorded": recorded,
    }


def recorded_row(point: Decoding) -> dict:
    """The run's own settings as the run recorded them, for the table when the sweep did
    not sample them again (they would come back the same: the sweep's own-settings rows
    reproduce the recorded FID, which the table's last line shows and a test checks)."""
    metrics = json.loads((point.cell / "metrics.json").read_text())
    return row_of(point, metrics["generation"], f"{metrics['timing']['metrics_s']['sampling']} (run)", "")


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def markdown(rows: list[dict], command: str) -> str:
    lines = [
        "# Decoding settings against near-copies (no retraining)",
        "",
        f"Written by `{command}`. Each row: one trained run sampled and scored as the run scores its own "
        "samples (same seed, same evaluator, matched-count FID over its floor, mean over the run's sample "
        "sets), under other decoding settings; a sampling time marked (run) is a row the run recorded itself "
        "(its own settings, not sampled again here). Near-copy rate: share of samples closer to a training series "
        "than 95% of real test series are (about 0.05 for new real data).",
        "",
        "| dataset | setting | seed | token temperature | Gumbel temperature | steps | FID / floor | ROCKET FID / floor "
        "| near-copy rate | CAS / TRTR | cond. accuracy | sampling s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {r['seed']} | {float(r['token_temperature']):g} "
            f"| {float(r['gumbel_temperature']):g} | {r['steps']} | {float(r['fid_ratio']):.2f}x ± {float(r['fid_ratio_std']):.2f} "
            f"| {float(r['rocket_fid_ratio']):.2f}x | {float(r['near_copy_rate']):.3f} | {float(r['cas_trtr_ratio']):.3f} "
            f"| {float(r['cond_acc']):.3f} | {r['sampling_s']} |"
        )
    checks = [f"{r['dataset']}/{r['setting']}/seed{r['seed']}: {r['recorded']}" for r in rows if r.get("recorded")]
    if checks:
        lines += ["", "The runs' own settings, against what the runs recorded: " + "; ".join(checks) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", type=Path, nargs="+", help="run folders <study>/<dataset>/<setting>/seed<k>")
    parser.add_argument("--cache", type=Path, required=True, help="the evaluator cache the runs were scored in")
    parser.add_argument("--token-temperature", type=float, nargs="+", default=[1.0])
    parser.add_argument("--gumbel-temperature", type=float, nargs="+", default=[None])
    parser.add_argument("--steps", type=int, nargs="+", default=[None])
    parser.add_argument("--csv", type=Path, required=True, help="rows are appended here as they finish")
    parser.add_argument("--out", type=Path, help="the markdown table of every row in --csv")
    parser.add_argument("--table-only", action="store_true", help="write --out from --csv, sample nothing")
    args = parser.parse_args()
    # Rewriting the table needs only each run's config and metrics, which git keeps;
    # sampling needs its weights, which stay on the machine that trained it.
    needed = ("config.yaml", "metrics.json") if args.table_only else ("tokenizer.pt", "prior.pt", "config.yaml")
    for cell in args.cells:
        for name in needed:
            if not (cell / name).is_file():
                parser.error(f"{cell} has no {name}" + ("" if args.table_only else ": the sweep needs the run's trained weights"))
    done = {tuple(r[k] for k in COLUMNS[:6]) for r in read_rows(args.csv)}
    todo = [] if args.table_only else list(
        itertools.product(args.cells, args.token_temperature, args.gumbel_temperature, args.steps)
    )
    with cache_at(args.cache):
        for cell, tt, gt, steps in todo:
            point = Decoding.of(cell, tt, gt, steps)
            if point.key in done:
                continue
            row = score(point)
            new = not args.csv.exists()
            with args.csv.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            done.add(point.key)
            print(
                f"{'/'.join(point.key[:3])} token T {tt:g}, tau {point.gumbel_temperature:g}, {point.steps} steps: "
                f"FID / floor {row['fid_ratio']:.2f}x, near-copies {row['near_copy_rate']:.3f}, "
                f"CAS / TRTR {row['cas_trtr_ratio']:.3f} {row['recorded']}",
                flush=True,
            )
    if args.out:
        rows = read_rows(args.csv)
        have = {tuple(r[k] for k in COLUMNS[:6]) for r in rows}
        for cell in args.cells:
            own = Decoding.of(cell, RunFolder(cell).read_config().prior.token_temperature, None, None)
            if own.key not in have:
                rows.append(recorded_row(own))
        rows.sort(key=lambda r: (r["dataset"], r["setting"], int(r["seed"]), *(float(r[k]) for k in COLUMNS[3:6])))
        # The command that samples these rows: --table-only only rewrites the table.
        command = "python benchmarks/sampling_sweep.py " + " ".join(a for a in sys.argv[1:] if a != "--table-only")
        args.out.write_text(markdown(rows, command))


if __name__ == "__main__":
    main()

"""Do the SSL branches put semantics into the tokens? Probe accuracy per setting and seed.

    python benchmarks/quality.py --datasets FordA --settings none barlowtwins:slice \
        --seeds 0 1 --data-dir ../shared/data/UCRArchive_2018 --out benchmarks/results

Trains the stage-1 tokenizer once per dataset x setting x seed with one budget (the cpu
preset unless ``--steps`` says otherwise), then prints linear-SVM / KNN probe accuracy,
test reconstruction MSE and codebook perplexity as mean and std over seeds, with the
method authors' published numbers (GPU, 1000 epochs, 4 seeds) beside ours. The table is
also written as CSV and Markdown.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ncvqvae_authors_results.csv"
METRICS = ("svm", "knn", "recon_mse", "perplexity")


def load_reference() -> dict[tuple[str, str, str], tuple[float, float]]:
    """(dataset, metric, setting) -> (mean, std); settings like ``none``, ``barlowtwins_slice``."""
    if not REFERENCE.is_file():
        return {}
    with REFERENCE.open() as f:
        return {
            (r["dataset"], r["metric"], r["setting"]): (float(r["mean"]), float(r["std"]))
            for r in csv.DictReader(f)
        }


def train_once(
    dataset: str,
    data_dir: str | None,
    ssl: str,
    augment: str,
    seed: int,
    steps: int | None,
    batch: int | None,
    tokenizer: str = "vqvae",
) -> dict[str, float]:
    from ncvqvae.config import preset
    from ncvqvae.pipeline import open_run, tokenizer_metrics
    from ncvqvae.training.fit import fit_tokenizer

    config = preset("cpu").override(
        data={"dataset": dataset, "data_dir": data_dir},
        ssl={"method": ssl, "augment": augment},
        tokenizer={"kind": tokenizer},
        stage1={"max_steps": steps, "batch_size": batch},
        trainer={"progress_bar": False},
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        ctx = open_run(config, Path(tmp) / "run")
        start = time.perf_counter()
        tokenizer = fit_tokenizer(config, ctx.data, ctx.standardizer, ctx.folder.path)
        elapsed = time.perf_counter() - start
        m = tokenizer_metrics(tokenizer, ctx)
    return {
        "svm": 100 * m["probe"]["svm"],
        "knn": 100 * m["probe"]["knn"],
        "recon_mse": m["recon_mse"],
        "perplexity": m["perplexity"],
        "train_s": elapsed,
    }


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["FordA"])
    parser.add_argument("--settings", nargs="+", default=["none", "barlowtwins:slice"],
                        help="ssl[:augment] items, e.g. none barlowtwins:slice vibcreg:warp")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--steps", type=int, default=None, help="stage-1 optimiser steps (default: the cpu preset's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--tokenizer", choices=["vqvae", "timevqvae"], default="vqvae")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    reference = load_reference()
    rows = []
    for dataset in args.datasets:
        for setting in args.settings:
            ssl, _, augment = setting.partition(":")
            augment = augment or "warp"
            runs = []
            for seed in args.seeds:
                result = train_once(
                    dataset, args.data_dir, ssl, augment, seed, args.steps, args.batch_size, args.tokenizer
                )
                print(f"{dataset} {setting} seed {seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.items()), flush=True)
                runs.append(result)
            ref_setting = "none" if ssl == "none" else f"{ssl}_{augment}"
            row = {"dataset": dataset, "tokenizer": args.tokenizer, "setting": ref_setting, "seeds": len(runs)}
            for metric in (*METRICS, "train_s"):
                row[f"{metric}_mean"], row[f"{metric}_std"] = _mean_std([r[metric] for r in runs])
            for metric in ("svm", "knn"):
                ref = reference.get((dataset, metric, ref_setting)) if args.tokenizer == "vqvae" else None
                row[f"ref_{metric}"] = "" if ref is None else f"{ref[0]:.1f} ± {ref[1]:.1f}"
            rows.append(row)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"quality_{'_'.join(args.datasets)}_{args.tokenizer}"
    with open(f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| dataset | tokenizer | setting | seeds | SVM % (ours) | KNN % (ours) | recon MSE | perplexity | train s | SVM % (authors) | KNN % (authors) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['tokenizer']} | {r['setting']} | {r['seeds']} | {r['svm_mean']:.1f} ± {r['svm_std']:.1f} "
            f"| {r['knn_mean']:.1f} ± {r['knn_std']:.1f} | {r['recon_mse_mean']:.4f} | {r['perplexity_mean']:.1f} "
            f"| {r['train_s_mean']:.0f} | {r['ref_svm'] or '-'} | {r['ref_knn'] or '-'} |"
        )
    table = "\n".join(lines)
    Path(f"{stem}.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nwritten: {stem}.csv, {stem}.md")


if __name__ == "__main__":
    main()

"""How well does a trained run fill gaps and forecast? MSE on the hidden values against
simple baselines, on real test series.

    python benchmarks/imputation.py --datasets GunPoint ECG200 TwoLeadECG \
        --data-dir ../shared/data/UCRArchive_2018 --runs-dir runs/imputation \
        --out benchmarks/results

For each dataset a run (cpu preset, Barlow Twins, seed 0; tokenizer and prior only) is
trained in ``--runs-dir`` unless it is there already. Then, on up to ``--series`` test
series, a stretch of 10%, 30% and 50% of the length is hidden, either at a random place
(``gap``) or at the end (``end``, i.e. forecasting), and filled by:

- ``linear``: linear interpolation (at the end: the last value carried forward);
- ``class_mean``: the training mean series of the series' own class (needs its label);
- ``recon_linear``: the tokenizer's reconstruction of the linearly filled series;
- ``impute``: one draw of :meth:`TrainedModel.impute`, without the label;
- ``impute_mean``: the mean of ``--draws`` draws (an estimate of the conditional mean,
  which is what minimises MSE; a single draw pays the posterior's variance twice);
- ``impute_mean_class``: the same, conditioned on the series' label.

MSE is in standardized units, over the hidden values, mean +- standard error over
series. Rows are appended to the CSV as they are computed, so an interrupted run
continues where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from ncvqvae.config import preset
from ncvqvae.model.trained import TrainedModel, load_run
from ncvqvae.pipeline import open_run, run_prior_stage, run_tokenizer_stage

METHODS = ("linear", "class_mean", "recon_linear", "impute", "impute_mean", "impute_mean_class")
FIELDS = ("dataset", "pattern", "fraction", "method", "mse", "se", "n_series", "seconds")


def ensure_run(dataset: str, data_dir: str | None, folder: Path) -> TrainedModel:
    """Train (or finish, or load) the tokenizer and prior of one dataset."""
    config = preset("cpu").override(
        data={"dataset": dataset, "data_dir": data_dir},
        ssl={"method": "barlowtwins"},
        trainer={"progress_bar": False},
    )
    ctx = open_run(config, folder)
    tokenizer = run_tokenizer_stage(ctx)
    run_prior_stage(ctx, tokenizer)
    return load_run(folder)


def hide(x: np.ndarray, fraction: float, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """x (N, C, L) with one stretch of round(fraction L) steps per series set to NaN."""
    length = x.shape[2]
    width = max(1, round(fraction * length))
    out = x.copy()
    for i in range(len(x)):
        start = length - width if pattern == "end" else int(rng.integers(0, length - width + 1))
        out[i, :, start : start + width] = np.nan
    return out


def linear_fill(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    steps = np.arange(x.shape[2])
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            nan = np.isnan(x[i, c])
            out[i, c, nan] = np.interp(steps[nan], steps[~nan], x[i, c, ~nan])
    return out


def hidden_mse(estimate: np.ndarray, truth: np.ndarray, hidden: np.ndarray, scale: float) -> tuple[float, float]:
    """Mean over series of the MSE on hidden values (standardized), and its standard error."""
    per_series = np.array(
        [np.mean(((estimate[i] - truth[i])[hidden[i]] / scale) ** 2) for i in range(len(truth))]
    )
    return float(per_series.mean()), float(per_series.std(ddof=1) / np.sqrt(len(per_series)))


def methods(model: TrainedModel, gappy: np.ndarray, labels: np.ndarray, class_means: np.ndarray, draws: int):
    """(name, estimate) for every method, each estimate (N, C, L) in data units."""
    linear = linear_fill(gappy)
    yield "linear", linear
    yield "class_mean", np.where(np.isnan(gappy), class_means[labels], gappy)
    yield "recon_linear", np.where(np.isnan(gappy), model.reconstruct(linear), gappy)
    yield "impute", model.impute(gappy, seed=0)
    yield "impute_mean", np.mean([model.impute(gappy, seed=s) for s in range(draws)], axis=0)
    index = model.classes[labels]
    yield "impute_mean_class", np.mean([model.impute(gappy, class_label=index, seed=s) for s in range(draws)], axis=0)


def done_rows(path: Path) -> set[tuple[str, str, str, str]]:
    if not path.is_file():
        return set()
    with path.open() as f:
        return {(r["dataset"], r["pattern"], r["fraction"], r["method"]) for r in csv.DictReader(f)}


def write_markdown(csv_path: Path, md_path: Path) -> None:
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    order = list(METHODS)
    lines = [
        "# Imputation and forecasting: MSE on hidden values (standardized units)",
        "",
        "Command: `python benchmarks/imputation.py --datasets GunPoint ECG200 TwoLeadECG "
        "--data-dir ../shared/data/UCRArchive_2018 --runs-dir runs/imputation --out benchmarks/results`",
        "(cpu preset, Barlow Twins, seed 0; test series; mean +- standard error over series;"
        " lower is better; **bold**: the best per row).",
        "",
        "| dataset | hidden | " + " | ".join(order) + " |",
        "|---|---|" + "---:|" * len(order),
    ]
    keys = sorted({(r["dataset"], r["pattern"], r["fraction"]) for r in rows}, key=lambda k: (k[0], k[1], float(k[2])))
    for key in keys:
        cells = {r["method"]: r for r in rows if (r["dataset"], r["pattern"], r["fraction"]) == key}
        best = min((float(c["mse"]), m) for m, c in cells.items())[1] if cells else None
        values = []
        for method in order:
            if method not in cells:
                values.append("")
                continue
            text = f"{float(cells[method]['mse']):.3f} +- {float(cells[method]['se']):.3f}"
            values.append(f"**{text}**" if method == best else text)
        label = f"{key[1]} {round(100 * float(key[2]))}%"
        lines.append(f"| {key[0]} | {label} | " + " | ".join(values) + " |")
    md_path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "ECG200", "TwoLeadECG"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/imputation"))
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.3, 0.5])
    parser.add_argument("--patterns", nargs="+", default=["gap", "end"])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = args.out / "imputation.csv", args.out / "imputation.md"
    finished = done_rows(csv_path)
    new_file = not csv_path.is_file()
    with csv_path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for dataset in args.datasets:
            model = ensure_run(dataset, args.data_dir, args.runs_dir / dataset)
            from ncvqvae.data.sources import load_dataset

            data = load_dataset(dataset, args.data_dir)
            rng = np.random.default_rng(0)
            pick = np.sort(rng.permutation(len(data.x_test))[: args.series])
            x, labels = data.x_test[pick], data.y_test[pick]
            class_means = np.stack([data.x_train[data.y_train == k].mean(axis=0) for k in range(data.n_classes)])
            scale = model.standardizer.std[0]
            for pattern in args.patterns:
                for fraction in args.fractions:
                    if all((dataset, pattern, str(fraction), m) in finished for m in METHODS):
                        continue
                    gappy = hide(x, fraction, pattern, np.random.default_rng(1))
                    hidden = np.isnan(gappy)
                    start = time.perf_counter()
                    for method, estimate in methods(model, gappy, labels, class_means, args.draws):
                        if (dataset, pattern, str(fraction), method) in finished:
                            continue
                        mse, se = hidden_mse(estimate, x, hidden, scale)
                        writer.writerow(
                            {"dataset": dataset, "pattern": pattern, "fraction": fraction, "method": method,
                             "mse": f"{mse:.5f}", "se": f"{se:.5f}", "n_series": len(x),
                             "seconds": f"{time.perf_counter() - start:.1f}"}
                        )
                        handle.flush()
                        print(f"{dataset} {pattern} {fraction:.0%} {method}: {mse:.4f} +- {se:.4f}", flush=True)
                        start = time.perf_counter()
    write_markdown(csv_path, md_path)
    print(md_path.read_text())


if __name__ == "__main__":
    main()

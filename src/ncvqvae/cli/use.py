"""Commands that use trained runs: ``sample``, ``impute``, ``evaluate``, ``compare``, and
``datasets`` (what data there is)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from ncvqvae.cli.app import DataDirOpt, app, cli_errors, print_metrics, setup_logging
from ncvqvae.errors import ConfigError, RunFolderError

OUTPUT_SUFFIXES = (".npy", ".csv")


def labels_path(out: Path) -> Path:
    return out.with_name(out.stem + "_labels.npy")


def check_output(out: Path, *, overwrite: bool) -> None:
    """Before any work: the output's type is one we write, and nothing is overwritten
    unasked (the labels file beside a .npy counts as part of the output)."""
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--out must end in .npy or .csv, got {out.name}")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name ending in .npy or .csv")
    outputs = (out, labels_path(out)) if out.suffix == ".npy" else (out,)
    existing = [p for p in outputs if p.exists()]
    if existing and not overwrite:
        names = " and ".join(p.name for p in existing)
        raise RunFolderError(f"{names} already exist(s); pass --overwrite to replace, or another --out")


def write_series(out: Path, x: np.ndarray, labels: np.ndarray | None) -> None:
    """Series (N, C, L) to .npy (labels in NAME_labels.npy) or .csv (label, then the
    channels' values concatenated); labels are the dataset's own values. Each file is
    written to a temporary name and renamed, and a stale labels file is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    if out.suffix == ".npy":
        np.save(tmp, x)
        os.replace(tmp, out)
        if labels is not None:
            tmp_labels = labels_path(out).with_name(labels_path(out).stem + ".tmp.npy")
            np.save(tmp_labels, labels)
            os.replace(tmp_labels, labels_path(out))
        else:
            labels_path(out).unlink(missing_ok=True)
        return
    flat = x.reshape(len(x), -1)
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", *(f"c{c}_t{t}" for c in range(x.shape[1]) for t in range(x.shape[2]))])
        for i, row in enumerate(flat):
            writer.writerow(["" if labels is None else labels[i], *(f"{v:.6g}" for v in row)])
    os.replace(tmp, out)


@app.command()
@cli_errors
def sample(
    run: Annotated[Path, typer.Option(help="run folder with a trained prior")],
    out: Annotated[Path, typer.Option(help="output file: .npy (labels in NAME_labels.npy) or .csv")],
    n: Annotated[int, typer.Option(help="number of samples")] = 500,
    class_: Annotated[
        Optional[str], typer.Option("--class", help="sample this class only (a label of the dataset, e.g. 2)")
    ] = None,
    per_class: Annotated[Optional[int], typer.Option(help="this many samples of every class (instead of --n)")] = None,
    guidance: Annotated[float, typer.Option(help="classifier-free guidance scale w >= 0")] = 1.0,
    steps: Annotated[Optional[int], typer.Option(help="decoding steps T", show_default="the run's")] = None,
    temperature: Annotated[
        Optional[float], typer.Option(help="Gumbel temperature tau", show_default="the run's")
    ] = None,
    token_temperature: Annotated[
        Optional[float],
        typer.Option(help="temperature of each token draw (above 1: fewer near-copies)", show_default="the run's"),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output file")] = False,
) -> None:
    """Generate series in the data's own units."""
    setup_logging()
    if per_class is not None and class_ is not None:
        raise ConfigError("--class and --per-class do not combine; for K series of class C use --class C --n K")
    if guidance < 0:
        raise ConfigError(f"--guidance must be >= 0, got {guidance}")
    count = per_class if per_class is not None else n
    if count <= 0:
        raise ConfigError(f"the number of samples must be positive, got {count}")
    check_output(out, overwrite=overwrite)
    from ncvqvae.model.trained import load_run

    model = load_run(run)
    labels = None
    if per_class is not None:
        labels = np.repeat(model.classes, per_class)
    elif class_ is not None:
        labels = np.repeat(model.classes[model.class_index(class_)], n)
    x = model.sample(
        len(labels) if labels is not None else n, class_label=labels, guidance=guidance,
        steps=steps, temperature=temperature, token_temperature=token_temperature, seed=seed, progress=True,
    )
    write_series(out, x, labels)
    typer.echo(f"wrote {len(x)} series of shape {x.shape[1:]} to {out}")


@app.command()
@cli_errors
def impute(
    run: Annotated[Path, typer.Option(help="run folder with a trained prior")],
    data_file: Annotated[Path, typer.Option(help=".npy array (N, C, L) or (N, L); NaN marks the gaps")],
    out: Annotated[Path, typer.Option(help="output .npy: the same array with its gaps filled")],
    labels: Annotated[
        Optional[Path], typer.Option(help=".npy of each series' class label (condition on it)")
    ] = None,
    class_: Annotated[Optional[str], typer.Option("--class", help="condition every series on this class")] = None,
    guidance: Annotated[float, typer.Option(help="classifier-free guidance scale w >= 0")] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output file")] = False,
) -> None:
    """Fill the missing (NaN) stretches of series with the prior, keeping every observed value."""
    setup_logging()
    from ncvqvae.data.dataset import check_labels
    from ncvqvae.data.sources import read_npy
    from ncvqvae.model.trained import load_run

    if out.suffix != ".npy":
        raise ConfigError(f"--out must end in .npy, got {out.name}")
    if labels is not None and class_ is not None:
        raise ConfigError("give --labels or --class, not both")
    check_output(out, overwrite=overwrite)
    x = read_npy(data_file, "series")
    if not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"{data_file.name}: values must be numeric, got dtype {x.dtype}")
    condition = None
    if labels is not None:
        condition = check_labels(read_npy(labels, "labels"), labels.name)
        if len(condition) != len(x):
            raise ConfigError(f"{data_file.name} holds {len(x)} series but {labels.name} {len(condition)} labels")
    elif class_ is not None:
        condition = class_
    model = load_run(run)
    filled = model.impute(x, class_label=condition, guidance=guidance, seed=seed, progress=True)
    write_series(out, filled.reshape(x.shape), None)
    typer.echo(f"filled {int(np.isnan(x).sum())} missing values in {len(x)} series; wrote {out}")


@app.command()
@cli_errors
def evaluate(run: Annotated[Path, typer.Option(help="a run folder with a trained prior")]) -> None:
    """Re-sample and re-evaluate a finished run, and rewrite its report."""
    setup_logging()
    from ncvqvae.model.trained import load_run
    from ncvqvae.pipeline import (
        open_run,
        run_evaluator_stage,
        run_generation_stage,
        run_report_stage,
    )
    from ncvqvae.run_folder import RunFolder

    cfg = RunFolder(run).read_config()
    model = load_run(run)
    ctx = open_run(cfg, run)
    evaluator = run_evaluator_stage(ctx)
    samples = run_generation_stage(ctx, model, evaluator, force=True)
    run_report_stage(ctx, model, evaluator, samples)
    print_metrics(ctx.folder.read_metrics(), ("evaluator", "generation"))


@app.command()
@cli_errors
def compare(runs: Annotated[list[Path], typer.Argument(help="run folders to put side by side")]) -> None:
    """Print the headline metrics of several runs as one Markdown table."""
    from ncvqvae.evaluation.compare import compare_runs

    typer.echo(compare_runs(runs))


@app.command()
@cli_errors
def datasets(data_dir: DataDirOpt = None) -> None:
    """List the datasets available, and where each comes from."""
    from ncvqvae.data.sources import available_datasets

    for loc in available_datasets(data_dir):
        typer.echo(f"{loc.name:28s} {loc.source:6s} {loc.train.parent}")

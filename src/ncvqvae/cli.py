"""The command line: parse options, build one RunConfig, call the pipeline.

    ncvqvae run --dataset GunPoint --ssl barlowtwins --preset cpu
    ncvqvae tokenizer --dataset GunPoint --preset cpu --out runs/gp
    ncvqvae prior --run runs/gp
    ncvqvae sample --run runs/gp --n 500 --per-class 10 --out samples.npy
    ncvqvae evaluate --run runs/gp
    ncvqvae compare runs/a runs/b
    ncvqvae datasets
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ncvqvae.errors import NcvqvaeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="NC-VQVAE: train a time-series tokenizer and generator, sample, and evaluate.",
    pretty_exceptions_enable=False,
)


class Preset(str, Enum):
    cpu = "cpu"
    paper = "paper"


class SSL(str, Enum):
    none = "none"
    barlowtwins = "barlowtwins"
    vicreg = "vicreg"
    vibcreg = "vibcreg"
    byol = "byol"
    simsiam = "simsiam"


class TokenizerKind(str, Enum):
    vqvae = "vqvae"
    timevqvae = "timevqvae"


class Augment(str, Enum):
    warp = "warp"
    slice = "slice"
    gauss = "gauss"


DatasetOpt = Annotated[Optional[str], typer.Option(help="UCR/aeon dataset name [default: GunPoint]")]
DataDirOpt = Annotated[
    Optional[Path],
    typer.Option(help="folder in UCR 2018 layout (default: $NCVQVAE_DATA, else aeon's copies)"),
]
PresetOpt = Annotated[
    Optional[Preset], typer.Option(help="cpu: minutes on 2 cores; paper: the reference [default: cpu]")
]
SSLOpt = Annotated[Optional[SSL], typer.Option(help="self-supervised branch; none = the baseline")]
AugmentOpt = Annotated[Optional[Augment], typer.Option(help="augmentation set of the SSL view [default: warp]")]
TokenizerOpt = Annotated[
    Optional[TokenizerKind],
    typer.Option("--tokenizer", help="vqvae (one band) or timevqvae (low/high split) [default: vqvae]"),
]
SeedOpt = Annotated[Optional[int], typer.Option(help="random seed [default: 0]")]
OutOpt = Annotated[Optional[Path], typer.Option(help="run folder (default: runs/<dataset>-<ssl>-seed<seed>)")]
DataFileOpt = Annotated[
    Optional[Path], typer.Option(help=".npy array (N, C, L) of your own series (split 70/30)")
]
LabelsOpt = Annotated[Optional[Path], typer.Option(help=".npy labels (N,) for --data-file")]
ConfigOpt = Annotated[Optional[Path], typer.Option(help="YAML config; CLI options override it")]


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code=2)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _build_config(
    *,
    config_file: Path | None,
    preset: Preset | None,
    default_ssl: SSL = SSL.none,
    dataset: str | None = None,
    data_dir: Path | None = None,
    ssl: SSL | None = None,
    augment: Augment | None = None,
    seed: int | None = None,
    stage1_epochs: int | None = None,
    stage2_epochs: int | None = None,
    batch_size: int | None = None,
    resample: int | None = None,
    data_file: Path | None = None,
    labels: Path | None = None,
    tokenizer_kind: TokenizerKind | None = None,
    devices: int | None = None,
    strategy: str | None = None,
    num_nodes: int | None = None,
    accelerator: str | None = None,
):  # noqa: ANN202 - RunConfig, imported lazily to keep `--help` fast
    from ncvqvae.config import load_config
    from ncvqvae.config import preset as make_preset
    from ncvqvae.errors import ConfigError

    # Options left unset keep the config file's values; without a file, the preset's.
    if config_file:
        config = load_config(config_file)
        if preset is not None:
            raise ConfigError("give either --config or --preset, not both")
    else:
        config = make_preset((preset or Preset.cpu).value)
        ssl = ssl or default_ssl
    stage1 = {"epochs": stage1_epochs, "batch_size": batch_size}
    stage2 = {"epochs": stage2_epochs}
    # An explicit epoch count replaces the preset's step cap.
    if stage1_epochs is not None:
        config = config.override(stage1={"max_steps": None}, skip_none=False)
    if stage2_epochs is not None:
        config = config.override(stage2={"max_steps": None}, skip_none=False)
    return config.override(
        data={
            "dataset": dataset or (None if data_file is None else Path(data_file).stem),
            "data_dir": None if data_dir is None else str(data_dir),
            "resample": resample,
            "data_file": None if data_file is None else str(Path(data_file).resolve()),
            "labels_file": None if labels is None else str(Path(labels).resolve()),
        },
        ssl={"method": None if ssl is None else ssl.value, "augment": None if augment is None else augment.value},
        stage1=stage1 if any(v is not None for v in stage1.values()) else None,
        stage2=stage2 if stage2_epochs is not None else None,
        trainer={"devices": devices, "strategy": strategy, "num_nodes": num_nodes, "accelerator": accelerator},
        tokenizer={"kind": None if tokenizer_kind is None else tokenizer_kind.value},
        seed=seed,
    )


def _refuse_finished(marker: Path, folder: Path, *, resume: bool, overwrite: bool) -> None:
    """A finished result is never redone or replaced by accident."""
    from ncvqvae.errors import RunFolderError

    if marker.exists() and not (resume or overwrite):
        raise RunFolderError(
            f"{folder} already holds a finished run ({marker.name}); pass --resume to reuse it, "
            "--overwrite to start again (the old folder is kept as a backup), or another --out"
        )


def _default_out(config) -> Path:  # noqa: ANN001
    kind = "" if config.tokenizer.kind == "vqvae" else f"-{config.tokenizer.kind}"
    return Path("runs") / f"{config.data.dataset}{kind}-{config.ssl.method}-seed{config.seed}"


@app.command()
def datasets(data_dir: DataDirOpt = None) -> None:
    """List the datasets available, and where each comes from."""
    from ncvqvae.data.sources import available_datasets

    try:
        found = available_datasets(data_dir)
    except NcvqvaeError as err:
        _fail(err)
    for loc in found:
        typer.echo(f"{loc.name:28s} {loc.source:6s} {loc.train.parent}")


@app.command()
def tokenizer(
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    preset: PresetOpt = None,
    ssl: Annotated[Optional[SSL], typer.Option(help="SSL branch; none = the baseline [default: none]")] = None,
    augment: AugmentOpt = None,
    tokenizer_kind: TokenizerOpt = None,
    epochs: Annotated[Optional[int], typer.Option(help="stage-1 epochs (overrides the preset)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="stage-1 batch size")] = None,
    seed: SeedOpt = None,
    resample: Annotated[Optional[int], typer.Option(help="resample series to this length")] = None,
    data_file: DataFileOpt = None,
    labels: LabelsOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    overwrite: Annotated[bool, typer.Option(help="move an existing run folder to a backup")] = False,
    resume: Annotated[bool, typer.Option(help="accept a folder whose tokenizer is trained")] = False,
    devices: Annotated[Optional[int], typer.Option(help="devices per node")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto or ddp")] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="nodes for DDP")] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="auto, cpu or gpu")] = None,
) -> None:
    """Train the stage-1 tokenizer (with or without the SSL branch) and score its tokens."""
    _setup_logging()
    try:
        from ncvqvae.pipeline import open_run, run_tokenizer_stage
        from ncvqvae.run_folder import RunFolder

        cfg = _build_config(
            config_file=config, preset=preset, dataset=dataset, data_dir=data_dir, ssl=ssl,
            augment=augment, seed=seed, stage1_epochs=epochs, batch_size=batch_size,
            resample=resample, data_file=data_file, labels=labels,
            tokenizer_kind=tokenizer_kind, devices=devices,
            strategy=strategy, num_nodes=num_nodes, accelerator=accelerator,
        )
        folder = out or _default_out(cfg)
        _refuse_finished(RunFolder(folder).tokenizer_path, folder, resume=resume, overwrite=overwrite)
        ctx = open_run(cfg, folder, overwrite=overwrite)
        run_tokenizer_stage(ctx)
        _print_metrics(ctx.folder.read_metrics(), ("tokenizer", "timing"))
        typer.echo(f"run folder: {ctx.folder.path}")
    except NcvqvaeError as err:
        _fail(err)


@app.command()
def prior(
    run: Annotated[Path, typer.Option(help="run folder holding a trained tokenizer")],
    epochs: Annotated[Optional[int], typer.Option(help="stage-2 epochs (overrides the preset)")] = None,
    preset: Annotated[Optional[Preset], typer.Option(help="take stage 2's budget from this preset")] = None,
) -> None:
    """Train the stage-2 MaskGIT prior on the tokens of the run's tokenizer."""
    _setup_logging()
    try:
        from ncvqvae.config import preset as make_preset
        from ncvqvae.generator import load_tokenizer
        from ncvqvae.pipeline import check_tokenizer_matches_data, open_run, run_prior_stage
        from ncvqvae.run_folder import RunFolder

        folder = RunFolder(run)
        cfg = folder.read_config()
        if preset is not None:
            cfg = cfg.override(stage2=vars(make_preset(preset.value).stage2), skip_none=False)
        if epochs is not None:
            cfg = cfg.override(stage2={"epochs": epochs, "max_steps": None}, skip_none=False)
        if cfg != folder.read_config():
            from ncvqvae.config import save_config

            save_config(cfg, folder.config_path)
        ctx = open_run(cfg, run)
        tokenizer_model, meta = load_tokenizer(folder.tokenizer_path)
        check_tokenizer_matches_data(meta, ctx.data, folder.tokenizer_path)
        run_prior_stage(ctx, tokenizer_model)
        _print_metrics(ctx.folder.read_metrics(), ("prior", "timing"))
    except NcvqvaeError as err:
        _fail(err)


@app.command()
def sample(
    run: Annotated[Path, typer.Option(help="run folder with a trained prior")],
    out: Annotated[Path, typer.Option(help="output file: .npy (with a _labels.npy beside it) or .csv")],
    n: Annotated[int, typer.Option(help="number of samples (per class with --per-class)")] = 500,
    class_: Annotated[Optional[int], typer.Option("--class", help="sample this class only")] = None,
    per_class: Annotated[Optional[int], typer.Option(help="this many samples of every class")] = None,
    guidance: Annotated[float, typer.Option(help="classifier-free guidance scale w")] = 1.0,
    seed: int = 0,
) -> None:
    """Generate series in the data's own units."""
    try:
        import numpy as np

        from ncvqvae.errors import ConfigError
        from ncvqvae.generator import load_run

        model = load_run(run)
        if per_class is not None:
            if per_class <= 0:
                raise ConfigError(f"--per-class must be positive, got {per_class}")
            labels = np.repeat(np.arange(len(model.class_names)), per_class)
            x = model.sample(len(labels), class_label=labels, guidance=guidance, seed=seed)
        else:
            labels = None if class_ is None else np.full(n, class_)
            x = model.sample(n, class_label=class_, guidance=guidance, seed=seed)
        _write_samples(out, x, labels)
        typer.echo(f"wrote {len(x)} series of shape {x.shape[1:]} to {out}")
    except NcvqvaeError as err:
        _fail(err)


def _write_samples(out: Path, x, labels) -> None:  # noqa: ANN001
    import numpy as np

    from ncvqvae.errors import ConfigError

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x)
        if labels is not None:
            np.save(out.with_name(out.stem + "_labels.npy"), labels)
    elif out.suffix == ".csv":
        flat = x.reshape(len(x), -1)
        label_col = np.full((len(x), 1), -1) if labels is None else labels[:, None]
        np.savetxt(out, np.hstack([label_col, flat]), delimiter=",", fmt="%.6g",
                   header="label (-1: unconditional), then values (channels concatenated)")
    else:
        raise ConfigError(f"--out must end in .npy or .csv, got {out.name}")


@app.command("run")
def run_command(
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    ssl: Annotated[Optional[SSL], typer.Option(help="SSL branch; none = the baseline [default: barlowtwins]")] = None,
    augment: AugmentOpt = None,
    tokenizer_kind: TokenizerOpt = None,
    preset: PresetOpt = None,
    seed: SeedOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    resample: Annotated[Optional[int], typer.Option(help="resample series to this length")] = None,
    data_file: DataFileOpt = None,
    labels: LabelsOpt = None,
    overwrite: Annotated[bool, typer.Option(help="move an existing run folder to a backup")] = False,
    resume: Annotated[bool, typer.Option(help="accept a finished run folder: reuse its stages")] = False,
    devices: Annotated[Optional[int], typer.Option(help="devices per node")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto or ddp")] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="nodes for DDP")] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="auto, cpu or gpu")] = None,
) -> None:
    """Everything: evaluator, tokenizer, prior, sampling, metrics and the HTML report.

    An interrupted run folder is continued by the same command; a finished one needs
    --resume (reuse it and rewrite the report) or --overwrite (start again)."""
    _setup_logging()
    try:
        from ncvqvae.pipeline import run_all
        from ncvqvae.run_folder import RunFolder

        cfg = _build_config(
            config_file=config, preset=preset, default_ssl=SSL.barlowtwins, dataset=dataset,
            data_dir=data_dir, ssl=ssl, augment=augment, seed=seed, resample=resample,
            data_file=data_file, labels=labels, tokenizer_kind=tokenizer_kind,
            devices=devices, strategy=strategy, num_nodes=num_nodes, accelerator=accelerator,
        )
        folder = out or _default_out(cfg)
        _refuse_finished(RunFolder(folder).report_path, folder, resume=resume, overwrite=overwrite)
        metrics = run_all(cfg, folder, overwrite=overwrite)
        _print_metrics(metrics, ("evaluator", "tokenizer", "prior", "generation", "timing"))
        typer.echo(f"report: {Path(folder) / 'report.html'}")
    except NcvqvaeError as err:
        _fail(err)


@app.command()
def evaluate(run: Annotated[Path, typer.Option(help="a run folder with a trained prior")]) -> None:
    """Re-sample and re-evaluate a finished run, and rewrite its report."""
    _setup_logging()
    try:
        from ncvqvae.generator import load_run
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
        _print_metrics(ctx.folder.read_metrics(), ("evaluator", "generation"))
    except NcvqvaeError as err:
        _fail(err)


@app.command()
def compare(runs: Annotated[list[Path], typer.Argument(help="run folders to put side by side")]) -> None:
    """Print the headline metrics of several runs as one Markdown table."""
    try:
        from ncvqvae.evaluation.compare import compare_runs

        typer.echo(compare_runs(runs))
    except NcvqvaeError as err:
        _fail(err)


def _print_metrics(metrics: dict, sections: tuple[str, ...]) -> None:
    shown = {k: metrics[k] for k in sections if k in metrics}
    typer.echo(json.dumps(shown, indent=2))


def main() -> None:
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    app()


if __name__ == "__main__":
    sys.exit(main())

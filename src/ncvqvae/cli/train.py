"""Training commands: ``run`` (everything), ``tokenizer`` (stage 1), ``prior`` (stage 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ncvqvae.cli.app import (
    AcceleratorOpt,
    AugmentOpt,
    ConfigOpt,
    DataDirOpt,
    DataFileOpt,
    DatasetOpt,
    DevicesOpt,
    LabelsOpt,
    NodesOpt,
    OutOpt,
    OverwriteOpt,
    PrecisionOpt,
    Preset,
    PresetOpt,
    PrintConfigOpt,
    ResampleOpt,
    SeedOpt,
    SetOpt,
    SSLOpt,
    StrategyOpt,
    TokenizerOpt,
    app,
    cli_errors,
    invocation,
    print_metrics,
    setup_logging,
)
from ncvqvae.cli.configure import ConfigOptions, build_config, default_out, print_config_and_exit

ResumeOpt = Annotated[bool, typer.Option("--resume", help="accept a finished run folder: reuse its stages")]


def _value(option: object) -> str | None:
    return None if option is None else getattr(option, "value", option)


def _refuse_finished(marker: Path, folder: Path, *, resume: bool, overwrite: bool) -> None:
    """A finished result is never redone or replaced by accident."""
    from ncvqvae.errors import RunFolderError

    if marker.exists() and not (resume or overwrite):
        raise RunFolderError(
            f"{folder} already holds a finished run ({marker.name}); pass --resume to reuse it, "
            "--overwrite to start again (the old folder is kept as a backup), or another --out"
        )


@app.command("run")
@cli_errors
def run_command(
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    ssl: SSLOpt = None,
    augment: AugmentOpt = None,
    tokenizer_kind: TokenizerOpt = None,
    preset: PresetOpt = None,
    seed: SeedOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    tokenizer_steps: Annotated[Optional[int], typer.Option(help="stage-1 optimiser steps", show_default="preset's")] = None,
    prior_steps: Annotated[Optional[int], typer.Option(help="stage-2 optimiser steps", show_default="preset's")] = None,
    resample: ResampleOpt = None,
    data_file: DataFileOpt = None,
    labels: LabelsOpt = None,
    overwrite: OverwriteOpt = False,
    resume: ResumeOpt = False,
    devices: DevicesOpt = None,
    strategy: StrategyOpt = None,
    num_nodes: NodesOpt = None,
    accelerator: AcceleratorOpt = None,
    precision: PrecisionOpt = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Everything: evaluator, tokenizer, prior, sampling, metrics and the HTML report.

    An interrupted run folder is continued by the same command; a finished one needs
    --resume (reuse it and rewrite the report) or --overwrite (start again)."""
    setup_logging()
    cfg = build_config(
        ConfigOptions(
            config_file=config, preset=_value(preset), assignments=set_, dataset=dataset,
            data_dir=data_dir, ssl=_value(ssl), augment=_value(augment),
            tokenizer_kind=_value(tokenizer_kind), seed=seed, resample=resample,
            data_file=data_file, labels=labels, stage1_steps=tokenizer_steps,
            stage2_steps=prior_steps, devices=devices, strategy=strategy,
            num_nodes=num_nodes, accelerator=accelerator, precision=precision,
        )
    )
    if print_config:
        print_config_and_exit(cfg)
    from ncvqvae.pipeline import run_all
    from ncvqvae.run_folder import RunFolder

    folder = out or default_out(cfg)
    _refuse_finished(RunFolder(folder).report_path, folder, resume=resume, overwrite=overwrite)
    metrics = run_all(cfg, folder, overwrite=overwrite, command=invocation())
    print_metrics(metrics, ("evaluator", "tokenizer", "prior", "generation", "timing"))
    typer.echo(f"report: {Path(folder) / 'report.html'}")


@app.command()
@cli_errors
def tokenizer(
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    preset: PresetOpt = None,
    ssl: SSLOpt = None,
    augment: AugmentOpt = None,
    tokenizer_kind: TokenizerOpt = None,
    epochs: Annotated[Optional[int], typer.Option(help="stage-1 epochs (lifts the preset's step cap)")] = None,
    steps: Annotated[Optional[int], typer.Option(help="stage-1 optimiser steps", show_default="preset's")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="stage-1 batch size", show_default="preset's")] = None,
    seed: SeedOpt = None,
    resample: ResampleOpt = None,
    data_file: DataFileOpt = None,
    labels: LabelsOpt = None,
    out: OutOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="accept a folder whose tokenizer is trained")] = False,
    devices: DevicesOpt = None,
    strategy: StrategyOpt = None,
    num_nodes: NodesOpt = None,
    accelerator: AcceleratorOpt = None,
    precision: PrecisionOpt = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Train the stage-1 tokenizer (with or without the SSL branch) and score its tokens."""
    setup_logging()
    cfg = build_config(
        ConfigOptions(
            config_file=config, preset=_value(preset), assignments=set_, dataset=dataset,
            data_dir=data_dir, ssl=_value(ssl), augment=_value(augment),
            tokenizer_kind=_value(tokenizer_kind), seed=seed, resample=resample,
            data_file=data_file, labels=labels, stage1_epochs=epochs, stage1_steps=steps,
            batch_size=batch_size, devices=devices, strategy=strategy, num_nodes=num_nodes,
            accelerator=accelerator, precision=precision,
        )
    )
    if print_config:
        print_config_and_exit(cfg)
    from ncvqvae.pipeline import open_run, run_tokenizer_stage
    from ncvqvae.run_folder import RunFolder

    folder = out or default_out(cfg)
    _refuse_finished(RunFolder(folder).tokenizer_path, folder, resume=resume, overwrite=overwrite)
    ctx = open_run(cfg, folder, overwrite=overwrite, command=invocation())
    run_tokenizer_stage(ctx)
    print_metrics(ctx.folder.read_metrics(), ("tokenizer", "timing"))
    typer.echo(f"run folder: {ctx.folder.path}")


@app.command()
@cli_errors
def prior(
    run: Annotated[Path, typer.Option(help="run folder holding a trained tokenizer")],
    epochs: Annotated[Optional[int], typer.Option(help="stage-2 epochs (lifts the step cap)")] = None,
    steps: Annotated[Optional[int], typer.Option(help="stage-2 optimiser steps")] = None,
    preset: Annotated[
        Optional[Preset], typer.Option(help="take stage 2's budget from this preset", show_default="the run's")
    ] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="a stage2.* or prior.* setting, e.g. prior.dropout=0.1")
    ] = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Train the stage-2 MaskGIT prior on the tokens of the run's tokenizer.

    Settings given here apply to this prior only: they are written to the run folder's
    prior.yaml (and into prior.pt), while config.yaml keeps the run's own settings."""
    setup_logging()
    from ncvqvae.pipeline import open_run, prior_overrides, run_prior_stage
    from ncvqvae.run_folder import RunFolder

    folder = RunFolder(run)
    run_config = folder.read_config()
    cfg = prior_overrides(run_config, preset=_value(preset), epochs=epochs, steps=steps, assignments=set_)
    if print_config:
        print_config_and_exit(cfg)
    from ncvqvae.model.trained import load_tokenizer
    from ncvqvae.pipeline import check_tokenizer_matches_data

    ctx = open_run(run_config, run)
    if cfg != run_config:
        folder.save_prior_settings(cfg)
        ctx.config = cfg
    tokenizer_model, meta = load_tokenizer(folder.tokenizer_path)
    check_tokenizer_matches_data(meta, ctx.data, folder.tokenizer_path)
    run_prior_stage(ctx, tokenizer_model)
    print_metrics(ctx.folder.read_metrics(), ("prior", "timing"))

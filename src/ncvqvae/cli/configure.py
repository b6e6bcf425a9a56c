"""From command-line options to one RunConfig: preset, then config file, then ``--set``,
then the named options, each layer overriding the one before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml

from ncvqvae.config import RunConfig, from_dict, parse_assignments, preset, read_yaml_mapping
from ncvqvae.errors import ConfigError

# The command line trains NC-VQVAE itself unless told otherwise; the presets (and the
# Python API) keep the baseline as their default so that a config names its method.
CLI_DEFAULT_SSL = "barlowtwins"


@dataclass
class ConfigOptions:
    """Every option that feeds the config, as typed on the command line (None: not given)."""

    config_file: Path | None = None
    preset: str | None = None
    assignments: list[str] | None = None
    dataset: str | None = None
    data_dir: Path | None = None
    ssl: str | None = None
    augment: str | None = None
    tokenizer_kind: str | None = None
    seed: int | None = None
    resample: int | None = None
    data_file: Path | None = None
    labels: Path | None = None
    stage1_epochs: int | None = None
    stage1_steps: int | None = None
    stage2_epochs: int | None = None
    stage2_steps: int | None = None
    batch_size: int | None = None
    devices: int | None = None
    strategy: str | None = None
    num_nodes: int | None = None
    accelerator: str | None = None
    precision: str | None = None


def base_config(options: ConfigOptions) -> RunConfig:
    """The preset (``--preset``, else the file's own ``preset:``, else cpu) with the
    command line's default SSL method, then the config file laid over it."""
    file_values: dict[str, Any] = {}
    if options.config_file is not None:
        file_values = dict(read_yaml_mapping(options.config_file))
    named = file_values.pop("preset", None)
    name = options.preset or named or "cpu"
    base = preset(name).override(ssl={"method": CLI_DEFAULT_SSL})
    try:
        return from_dict(file_values, base)
    except ConfigError as err:
        where = f"{options.config_file}: " if options.config_file else ""
        raise ConfigError(f"{where}{err}") from None


def build_config(options: ConfigOptions) -> RunConfig:
    """The resolved config of a command; a bad value fails here, before anything runs."""
    if options.labels is not None and options.data_file is None:
        raise ConfigError("--labels needs --data-file (the labels belong to the series in that file)")
    config = base_config(options)
    if options.assignments:
        config = from_dict(parse_assignments(options.assignments), config)
    # An explicit epoch count lifts the step cap; an explicit step count is the budget.
    for stage, epochs, steps in (
        ("stage1", options.stage1_epochs, options.stage1_steps),
        ("stage2", options.stage2_epochs, options.stage2_steps),
    ):
        if epochs is not None:
            config = config.override(**{stage: {"epochs": epochs, "max_steps": steps}}, skip_none=False)
        elif steps is not None:
            config = config.override(**{stage: {"max_steps": steps}})
    data_file = options.data_file
    return config.override(
        data={
            "dataset": options.dataset or (None if data_file is None else Path(data_file).stem),
            "data_dir": None if options.data_dir is None else str(options.data_dir),
            "resample": options.resample,
            "data_file": None if data_file is None else str(Path(data_file).resolve()),
            "labels_file": None if options.labels is None else str(Path(options.labels).resolve()),
        },
        ssl={"method": options.ssl, "augment": options.augment},
        stage1={"batch_size": options.batch_size},
        trainer={
            "devices": options.devices,
            "strategy": options.strategy,
            "num_nodes": options.num_nodes,
            "accelerator": options.accelerator,
            "precision": options.precision,
        },
        tokenizer={"kind": options.tokenizer_kind},
        seed=options.seed,
    )


def print_config_and_exit(config: RunConfig) -> None:
    typer.echo(yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    raise typer.Exit()


def default_out(config: RunConfig) -> Path:
    kind = "" if config.tokenizer.kind == "vqvae" else f"-{config.tokenizer.kind}"
    return Path("runs") / f"{config.data.dataset}{kind}-{config.ssl.method}-seed{config.seed}"

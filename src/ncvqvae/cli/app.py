"""The Typer application every command registers on, and what all commands share:
error handling with exit codes, logging, and the options that build a config.

Exit codes: 0 done; 1 an unexpected failure (its traceback goes to a file, the terminal
gets one line); 2 a problem with the user's input (one line naming it and the fix); 130
interrupted with Ctrl-C (the same command resumes).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from ncvqvae import __version__
from ncvqvae.errors import NcvqvaeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="NC-VQVAE: train a time-series tokenizer and generator, sample, impute and evaluate.",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
log = logging.getLogger("ncvqvae")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ncvqvae {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = None,
) -> None:
    """NC-VQVAE: train a time-series tokenizer and generator, sample, impute and evaluate."""


def invocation() -> str:
    """The command line as typed, for the report's provenance."""
    return shlex.join(["ncvqvae", *sys.argv[1:]])


def fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def cli_errors(command: F) -> F:
    """One line per failure, never a traceback on the terminal, and the exit code that
    says what kind of failure it was."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except NcvqvaeError as err:
            fail(str(err))
        except KeyboardInterrupt:
            typer.echo(
                "\ninterrupted: run the same command again to resume from the last checkpoint",
                err=True,
            )
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except Exception as err:  # noqa: BLE001 - the traceback goes to a file, not lost
            path = Path(tempfile.gettempdir()) / f"ncvqvae-error-{os.getpid()}.txt"
            path.write_text(traceback.format_exc())
            first = str(err).splitlines()[0] if str(err) else ""
            fail(f"{type(err).__name__}: {first} (full traceback in {path})", EXIT_RUNTIME)

    return wrapper  # type: ignore[return-value]


def _warning_as_log_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    log.warning("warning: %s", text)


def setup_logging() -> None:
    """Messages as plain lines; Python warnings as one log line each instead of a
    source listing; Lightning's banners kept out."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.showwarning = _warning_as_log_line


def print_metrics(metrics: dict, sections: tuple[str, ...]) -> None:
    shown = {k: metrics[k] for k in sections if k in metrics}
    typer.echo(json.dumps(shown, indent=2))


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


# Options whose default comes from the preset or the config file are None here; the
# help shows the value they take when nothing else sets them.
DatasetOpt = Annotated[Optional[str], typer.Option(help="UCR/aeon dataset name", show_default="GunPoint")]
DataDirOpt = Annotated[
    Optional[Path],
    typer.Option(help="folder in UCR 2018 layout", show_default="$NCVQVAE_DATA, else aeon's copies"),
]
PresetOpt = Annotated[
    Optional[Preset],
    typer.Option(help="cpu: minutes on 2 cores; paper: the reference setting for a GPU", show_default="cpu"),
]
SSLOpt = Annotated[
    Optional[SSL],
    typer.Option(help="self-supervised branch; none = the baseline", show_default="barlowtwins"),
]
AugmentOpt = Annotated[Optional[Augment], typer.Option(help="augmentation set of the SSL view", show_default="warp")]
TokenizerOpt = Annotated[
    Optional[TokenizerKind],
    typer.Option("--tokenizer", help="vqvae (one band) or timevqvae (low/high split)", show_default="vqvae"),
]
SeedOpt = Annotated[Optional[int], typer.Option(help="random seed", show_default="0")]
OutOpt = Annotated[
    Optional[Path], typer.Option(help="run folder", show_default="runs/<dataset>-<ssl>-seed<seed>")
]
DataFileOpt = Annotated[
    Optional[Path], typer.Option(help=".npy array (N, C, L) or (N, L) of your own series (split 70/30)")
]
LabelsOpt = Annotated[Optional[Path], typer.Option(help=".npy labels (N,) for --data-file")]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(help="YAML config (or part of one) laid over the preset; options below override it"),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="override one setting, e.g. --set stage1.max_steps=200 (repeatable)"),
]
PrintConfigOpt = Annotated[bool, typer.Option("--print-config", help="print the resolved config as YAML and exit")]
ResampleOpt = Annotated[Optional[int], typer.Option(help="resample every series to this length")]
DevicesOpt = Annotated[Optional[int], typer.Option(help="devices per node", show_default="1")]
StrategyOpt = Annotated[Optional[str], typer.Option(help="auto or ddp", show_default="auto")]
NodesOpt = Annotated[Optional[int], typer.Option(help="nodes for DDP", show_default="1")]
AcceleratorOpt = Annotated[
    Optional[str], typer.Option(help="auto, cpu or gpu", show_default="cpu with --preset cpu, else auto")
]
PrecisionOpt = Annotated[
    Optional[str],
    typer.Option(help="32-true; bf16-mixed (GPUs, and CPUs with bf16 matrix units such as AMX); 16-mixed (GPUs). TF32: --set trainer.matmul_precision=high", show_default="32-true"),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="move an existing run folder to a backup first")]

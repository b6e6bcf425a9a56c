"""One cell of a study: is it finished, and running it (in this process, or as the
worker process the local executor starts: ``python -m ncvqvae.study.cell``).

A finished cell is a run folder whose config equals the cell's resolved config and whose
metrics hold what the study's stages produce; so a study whose folders were committed
without checkpoints is still recognised as finished on another machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from ncvqvae.config import RunConfig
from ncvqvae.run_folder import RunFolder, comparable_config
from ncvqvae.study.provenance import study_cache_dir
from ncvqvae.study.spec import Cell, StudySpec, load_spec

SPEC_FILE = "spec.yaml"
STATE_DIR = ".study"
REQUIRED_SECTION = {"tokenizer": "tokenizer", "reconstruction": "reconstruction", "full": "generation"}
# What a cell never reads: changing it must not make a finished cell rerun.
UNUSED_BY_STAGES = {
    "tokenizer": ("prior", "stage2", "evaluation"),
    "reconstruction": ("prior", "stage2"),
    "full": (),
}

log = logging.getLogger("ncvqvae")


def _stage_config(config: RunConfig, stages: str) -> dict:
    values = comparable_config(config)
    for section in UNUSED_BY_STAGES[stages]:
        values.pop(section, None)
    return values


def error_path(study_dir: Path, cell: Cell) -> Path:
    return Path(study_dir) / STATE_DIR / "errors" / f"{cell.dataset}__{cell.setting}__seed{cell.seed}.txt"


def log_path(study_dir: Path, cell: Cell) -> Path:
    return Path(study_dir) / STATE_DIR / "logs" / f"{cell.dataset}__{cell.setting}__seed{cell.seed}.log"


def cell_status(study_dir: Path, cell: Cell, stages: str) -> str:
    """``finished``, ``failed`` (its last attempt raised), ``started`` (a folder, not
    finished: it resumes from its checkpoints) or ``pending``."""
    folder = RunFolder(cell.folder(study_dir))
    if folder.config_path.is_file():
        try:
            same = _stage_config(folder.read_config(), stages) == _stage_config(cell.config, stages)
            metrics = folder.read_metrics()
        except Exception:  # noqa: BLE001 - an unreadable folder is simply not finished
            same, metrics = False, {}
        if same and REQUIRED_SECTION[stages] in metrics:
            return "finished"
    if error_path(study_dir, cell).is_file():
        return "failed"
    return "started" if folder.path.exists() else "pending"


def run_cell(study_dir: Path, cell: Cell, stages: str) -> None:
    """Train and evaluate one cell in this process; resumes an interrupted one.

    On failure the traceback is written to the study's error file for the cell and the
    exception propagates; a later attempt clears the file first.
    """
    from ncvqvae.evaluation.evaluator import cache_at
    from ncvqvae.pipeline import (
        open_run,
        run_all,
        run_evaluator_stage,
        run_reconstruction_stage,
        run_tokenizer_stage,
    )

    errors = error_path(study_dir, cell)
    errors.unlink(missing_ok=True)
    try:
        # Every cell of the study, in any session or on any machine, is scored by the
        # evaluators kept in the study's folder (ncvqvae.study.provenance).
        with cache_at(study_cache_dir(Path(study_dir) / STATE_DIR)):
            if stages == "tokenizer":
                run_tokenizer_stage(open_run(cell.config, cell.folder(study_dir)))
            elif stages == "reconstruction":
                ctx = open_run(cell.config, cell.folder(study_dir))
                evaluator = run_evaluator_stage(ctx)
                run_reconstruction_stage(ctx, run_tokenizer_stage(ctx), evaluator)
            else:
                run_all(cell.config, cell.folder(study_dir))
    except BaseException as err:
        if not isinstance(err, KeyboardInterrupt):
            errors.parent.mkdir(parents=True, exist_ok=True)
            errors.write_text(f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}")
        raise


def find_cell(spec: StudySpec, dataset: str, setting: str, seed: int) -> Cell:
    for cell in spec.cells():
        if (cell.dataset, cell.setting, cell.seed) == (dataset, setting, seed):
            return cell
    raise KeyError(f"{dataset}/{setting}/seed{seed} is not a cell of this study")


def run_cell_job(study_dir: str, dataset: str, setting: str, seed: int) -> str:
    """What a SLURM array task runs (picklable: plain arguments, the spec read from the
    study folder). Returns the cell's key."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus:
        import torch

        torch.set_num_threads(int(cpus))
    spec = load_spec(Path(study_dir) / SPEC_FILE)
    run_cell(Path(study_dir), find_cell(spec, dataset, setting, seed), spec.stages)
    return f"{dataset}/{setting}/seed{seed}"


def main(argv: list[str] | None = None) -> int:
    """The local executor's worker: one cell, a given number of threads, exit code 0/1."""
    parser = argparse.ArgumentParser(prog="python -m ncvqvae.study.cell")
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("dataset")
    parser.add_argument("setting")
    parser.add_argument("seed", type=int)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    spec = load_spec(args.study_dir / SPEC_FILE)
    cell = find_cell(spec, args.dataset, args.setting, args.seed)
    try:
        run_cell(args.study_dir, cell, spec.stages)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - written to the cell's error file
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())

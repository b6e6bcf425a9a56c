"""``ncvqvae study run SPEC --out DIR`` and ``ncvqvae study report DIR``."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ncvqvae.cli.app import EXIT_RUNTIME, app, cli_errors, setup_logging

study_app = typer.Typer(help="Grids of datasets x settings x seeds, locally or on SLURM, and their tables.", no_args_is_help=True)
app.add_typer(study_app, name="study")


class Executor(str, Enum):
    local = "local"
    slurm = "slurm"


STUDY_GITIGNORE = """# Written by `ncvqvae study run`: what a study's results need is the cells' config.yaml
# and metrics.json and the tables; weights, checkpoints and logs stay out of git. The
# evaluators in .study/cache (about 1 MB a dataset) stay in: a study continued elsewhere
# scores its new cells with the same ones.
*.pt
!.study/cache/evaluators/*.pt
*.lock
checkpoints/
logs/
*.tmp
.study/logs/
.study/slurm/
"""


def write_gitignore(study_dir: Path) -> None:
    """So that a study folder can be committed as it is, and continued elsewhere."""
    path = study_dir / ".gitignore"
    if not path.exists():
        path.write_text(STUDY_GITIGNORE)


def _add_elapsed(study_dir: Path, seconds: float) -> float:
    """Wall-clock time of every `study run` on this folder, summed (kept in .study/)."""
    path = study_dir / ".study" / "timing.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    sessions = json.loads(path.read_text()) if path.is_file() else []
    if seconds > 0:
        sessions.append(round(seconds, 1))
        path.write_text(json.dumps(sessions))
    return float(sum(sessions))


def _elapsed_text(total_s: float) -> str:
    return f"; wall-clock time recorded by `study run`: {total_s / 3600:.2f} h" if total_s > 0 else ""


@study_app.command("run")
@cli_errors
def study_run(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="the study spec")],
    out: Annotated[Path, typer.Option(help="study folder: one run folder per cell, and the tables")],
    executor: Annotated[Executor, typer.Option(help="local: worker processes here; slurm: one job array")] = Executor.local,
    workers: Annotated[int, typer.Option(help="local: cells at a time (the cores are divided among them)")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would run (slurm: the batch script and array) and exit")] = False,
    partition: Annotated[Optional[str], typer.Option(help="slurm: partition", show_default="spec's, else the cluster's")] = None,
    time_min: Annotated[Optional[int], typer.Option(help="slurm: time limit per task, minutes", show_default="spec's, else 120")] = None,
    gpus_per_task: Annotated[Optional[int], typer.Option(help="slurm: GPUs per task")] = None,
    cpus_per_task: Annotated[Optional[int], typer.Option(help="slurm: CPUs per task")] = None,
    mem_gb: Annotated[Optional[float], typer.Option(help="slurm: memory per task, GB")] = None,
    sbatch: Annotated[Optional[list[str]], typer.Option(help="slurm: extra sbatch option, e.g. --sbatch=--qos=high (repeatable)")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option(help="run only this dataset's cells (repeatable)")] = None,
    setting: Annotated[Optional[list[str]], typer.Option(help="run only this setting's cells (repeatable)")] = None,
    seed: Annotated[Optional[list[int]], typer.Option(help="run only this seed's cells (repeatable)")] = None,
    progress: Annotated[bool, typer.Option(help="show the live display")] = True,
) -> None:
    """Run every unfinished cell of a study (or of the chosen datasets, settings and
    seeds); rerunning continues where it stopped. The tables cover the whole study."""
    setup_logging()
    from ncvqvae.errors import ConfigError
    from ncvqvae.study.cell import SPEC_FILE, cell_status
    from ncvqvae.study.local import run_local, threads_per_worker
    from ncvqvae.study.progress import StudyProgress
    from ncvqvae.study.report import write_report
    from ncvqvae.study.slurm import SlurmOptions, batch_script, run_slurm
    from ncvqvae.study.spec import load_spec, save_spec

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    spec = load_spec(spec_file)
    cells = spec.subset(datasets=dataset or (), settings=setting or (), seeds=seed or ())
    status = {cell.key: cell_status(out, cell, spec.stages) for cell in cells}
    todo = [cell for cell in cells if status[cell.key] != "finished"]
    options = SlurmOptions.from_spec(
        spec.slurm, partition=partition, time_min=time_min, gpus_per_task=gpus_per_task,
        cpus_per_task=cpus_per_task, mem_gb=mem_gb, sbatch=sbatch or [],
    )
    counts = {s: sum(v == s for v in status.values()) for s in ("finished", "started", "failed", "pending")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    n_all = len(spec.datasets) * len(spec.settings) * len(spec.seeds)
    chosen = f"study of {n_all} cells" if len(cells) == n_all else f"{len(cells)} of the study's {n_all} cells"
    typer.echo(f"{chosen} ({summary}); {len(todo)} to run", err=True)
    if dry_run:
        if executor == Executor.slurm:
            typer.echo(batch_script(out, todo, options))
        else:
            typer.echo(f"{len(todo)} cells, {workers} at a time, {threads_per_worker(workers)} thread(s) each:")
            typer.echo("\n".join(f"  {cell.key} ({status[cell.key]})" for cell in todo))
        return
    out.mkdir(parents=True, exist_ok=True)
    save_spec(spec, out / SPEC_FILE)
    write_gitignore(out)
    start = time.perf_counter()
    bar = StudyProgress(len(cells), len(cells) - len(todo), enabled=progress)
    try:
        if todo and executor == Executor.slurm:
            array = run_slurm(out, todo, spec.stages, options=options, progress=bar)
            typer.echo(f"SLURM array {array} ended", err=True)
        elif todo:
            run_local(out, todo, spec.stages, workers=workers, progress=bar)
    finally:
        bar.close()
        total = _add_elapsed(out, time.perf_counter() - start)
    paths = write_report(out, spec, elapsed=_elapsed_text(total))
    from ncvqvae.study.cell import error_path, log_path

    for cell in bar.failures:
        message = error_path(out, cell).read_text().splitlines()[0] if error_path(out, cell).is_file() else "ended without finishing"
        typer.echo(f"failed: {cell.key}: {message} (log: {log_path(out, cell)})", err=True)
    typer.echo(f"summary: {paths['summary.md']}\nreport: {paths['report.html']}")
    if bar.failures:
        raise typer.Exit(code=EXIT_RUNTIME)


@study_app.command("report")
@cli_errors
def study_report(
    study_dir: Annotated[Path, typer.Argument(metavar="DIR", help="a study folder")],
    reference: Annotated[
        Optional[Path], typer.Option(help="the method authors' results CSV", show_default="../shared/reference/ncvqvae_authors_results.csv")
    ] = None,
) -> None:
    """Write runs.csv, summary.csv, summary.md and report.html of a study folder."""
    from ncvqvae.errors import RunFolderError
    from ncvqvae.study.cell import SPEC_FILE
    from ncvqvae.study.report import DEFAULT_REFERENCE, write_report
    from ncvqvae.study.spec import load_spec

    if not (study_dir / SPEC_FILE).is_file():
        raise RunFolderError(f"{study_dir} holds no {SPEC_FILE}; is it a study folder?")
    spec = load_spec(study_dir / SPEC_FILE)
    total = _add_elapsed(study_dir, 0.0)
    paths = write_report(study_dir, spec, reference_path=reference or DEFAULT_REFERENCE, elapsed=_elapsed_text(total))
    typer.echo(f"summary: {paths['summary.md']}\nreport: {paths['report.html']}")

"""The SLURM executor: one job array, one task per cell, through submitit.

submitit writes the batch script, submits it with ``sbatch`` (``--array=0-(N-1)%P``),
pickles each cell's call for its task, and reads the results back; ``sacct`` tells it
which tasks ended. Each task runs :func:`ncvqvae.study.cell.run_cell_job`, which reads
the study's spec from the study folder, so the cluster needs the package installed and
the study folder on a shared file system, nothing else.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ncvqvae.errors import ConfigError
from ncvqvae.study.cell import STATE_DIR, cell_status, run_cell_job
from ncvqvae.study.progress import StudyProgress
from ncvqvae.study.spec import Cell

POLL_S = 30.0


@dataclass
class SlurmOptions:
    """Resources of each array task; unset values are left to the cluster's defaults."""

    partition: str | None = None
    time_min: int = 120
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    array_parallelism: int = 64
    sbatch: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)

    @classmethod
    def from_spec(cls, values: dict[str, Any], **cli: Any) -> SlurmOptions:
        """The spec's ``slurm:`` section, with command-line values (not None) over it."""
        merged = {**values, **{k: v for k, v in cli.items() if v not in (None, [], ())}}
        if "sbatch" in values and "sbatch" in cli and cli["sbatch"]:
            merged["sbatch"] = [*values["sbatch"], *cli["sbatch"]]
        return cls(**merged)

    def additional_parameters(self) -> dict[str, Any]:
        """``--qos=high`` -> {"qos": "high"}; a bare ``--exclusive`` -> {"exclusive": True}."""
        extra: dict[str, Any] = {}
        for option in self.sbatch:
            if not option.startswith("--"):
                raise ConfigError(f"sbatch options are written --name=value, got {option!r}")
            name, sep, value = option[2:].partition("=")
            extra[name] = value if sep else True
        return extra

    def executor_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "time": self.time_min,
            "array_parallelism": self.array_parallelism,
            "job_name": "ncvqvae-study",
            "setup": list(self.setup),
            "additional_parameters": self.additional_parameters(),
        }
        for name in ("partition", "gpus_per_task", "cpus_per_task"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.mem_gb is not None:
            params["mem"] = f"{int(self.mem_gb * 1024)}MB"
        return params


def _log_folder(study_dir: Path) -> Path:
    return Path(study_dir).resolve() / STATE_DIR / "slurm" / "%j"


def _executor(study_dir: Path, options: SlurmOptions):  # noqa: ANN202 - submitit.SlurmExecutor
    import submitit

    executor = submitit.SlurmExecutor(folder=_log_folder(study_dir))
    executor.update_parameters(**options.executor_parameters())
    return executor


def batch_script(study_dir: Path, cells: list[Cell], options: SlurmOptions) -> str:
    """What ``--dry-run`` prints: the batch script submitit would submit for the array,
    then the array index of every cell."""
    from submitit.slurm.slurm import _make_sbatch_string

    # Built without a SlurmExecutor, which refuses to exist where there is no srun: a
    # dry run is for checking the script before logging in to the cluster.
    folder = _log_folder(study_dir)
    command = " ".join([sys.executable, "-u -m submitit.core._submit", shlex.quote(str(folder))])
    script = _make_sbatch_string(command=command, folder=folder, map_count=len(cells), **options.executor_parameters())
    rows = "\n".join(f"#   {i}: {cell.key}" for i, cell in enumerate(cells))
    return f"{script}\n# array of {len(cells)} tasks (index: dataset/setting/seed):\n{rows}\n"


def run_slurm(study_dir: Path, cells: list[Cell], stages: str, *, options: SlurmOptions, progress: StudyProgress) -> str:
    """Submit one array for ``cells`` and wait for every task to end; returns the job id.

    Interrupting the wait (Ctrl-C) leaves the array running on the cluster: rerun the
    same command (finished cells are skipped) or ``ncvqvae study report`` later.
    """
    executor = _executor(study_dir, options)
    folder = str(Path(study_dir).resolve())
    jobs = executor.map_array(
        run_cell_job,
        [folder] * len(cells),
        [c.dataset for c in cells],
        [c.setting for c in cells],
        [c.seed for c in cells],
    )
    array_id = jobs[0].job_id.split("_")[0] if jobs else ""
    for cell in cells:
        progress.started(cell)
    pending = dict(zip([j.job_id for j in jobs], zip(jobs, cells)))
    while pending:
        for job_id, (job, cell) in list(pending.items()):
            if job.done(force_check=True):
                progress.ended(cell, cell_status(study_dir, cell, stages))
                del pending[job_id]
        if pending:
            time.sleep(POLL_S)
    return array_id

"""The local executor: N worker processes on this machine, the cores divided among them.

Each cell runs as its own process (``python -m ncvqvae.study.cell``): a crash, a leak or
an out-of-memory kill takes down that cell alone, and its output goes to the cell's log.
Workers are tied to the study's process: on Linux the kernel kills them when it dies,
even by SIGKILL (``PR_SET_PDEATHSIG``), and on Ctrl-C or SIGTERM the study stops them
itself, so no orphan goes on writing into a cell.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ncvqvae.study.cell import cell_status, log_path
from ncvqvae.study.progress import StudyProgress
from ncvqvae.study.spec import Cell

POLL_S = 0.5


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me when my parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


@dataclass
class Running:
    cell: Cell
    process: subprocess.Popen
    log: object


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def run_local(study_dir: Path, cells: list[Cell], stages: str, *, workers: int, progress: StudyProgress) -> None:
    """Run ``cells`` with at most ``workers`` at a time; returns when all have ended."""
    threads = threads_per_worker(workers)
    # Every thread pool a cell may start (torch's OpenMP, NumPy's BLAS, ROCKET's numba) gets
    # its share of the cores only, so that N workers never start more threads than cores.
    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
    env = {**os.environ, **{name: str(threads) for name in pools}, "PYTHONWARNINGS": "ignore"}
    queue = list(cells)
    running: list[Running] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while queue or running:
            while queue and len(running) < workers:
                cell = queue.pop(0)
                path = log_path(study_dir, cell)
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("a")
                command = [
                    sys.executable, "-m", "ncvqvae.study.cell", str(study_dir),
                    cell.dataset, cell.setting, str(cell.seed), "--threads", str(threads),
                ]
                process = subprocess.Popen(
                    command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
                running.append(Running(cell, process, handle))
                progress.started(cell)
            time.sleep(POLL_S)
            for item in list(running):
                if item.process.poll() is None:
                    continue
                item.log.close()
                running.remove(item)
                progress.ended(item.cell, cell_status(study_dir, item.cell, stages))
    except KeyboardInterrupt:
        for item in running:
            item.process.terminate()
        for item in running:
            try:
                item.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                item.process.kill()
            item.log.close()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

"""The live display of a study: cells done / running / failed / left, and time left."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from ncvqvae.study.spec import Cell


class StudyProgress:
    """A bar over the cells still to run, with the counts beside it. tqdm's estimate of
    the time left comes from the rate at which cells end, so it accounts for parallel
    workers."""

    def __init__(self, total: int, already_finished: int, *, enabled: bool = True) -> None:
        self.finished = already_finished
        self.failed = 0
        self.running = 0
        self.left = total - already_finished
        self.failures: list[Cell] = []
        self.bar = tqdm(
            total=self.left,
            desc="study cells",
            unit="cell",
            disable=not enabled,
            mininterval=1.0 if sys.stderr.isatty() else 60.0,
        )
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(
            f"done {self.finished}, running {self.running}, failed {self.failed}, left {self.left}",
            refresh=True,
        )

    def started(self, cell: Cell) -> None:
        self.running += 1
        self.left -= 1
        self._show()

    def ended(self, cell: Cell, status: str) -> None:
        self.running -= 1
        if status == "finished":
            self.finished += 1
        else:
            self.failed += 1
            self.failures.append(cell)
        self.bar.update(1)
        self._show()

    def close(self) -> None:
        self.bar.close()

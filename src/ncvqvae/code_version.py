"""Which code produced a run: the package version and, from a git checkout, its commit.

Cells of a study are skipped when their resolved config matches, so a table can mix
cells trained by different code: a speed change (fused AdamW, a strided stem) moves a
run's numbers while its config stays the same. Recording the commit beside the metrics
lets a reader, and the study summary, see which cells share code. It is the code that
last opened the run: a run resumed under newer code records the newer commit.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from ncvqvae import __version__


@lru_cache(maxsize=1)
def code_version() -> dict[str, str | bool]:
    """{"package": version[, "commit": 12 hex digits, "modified": uncommitted changes
    to the package source]}; no commit outside a git checkout (an installed wheel)."""
    version: dict[str, str | bool] = {"package": __version__}
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    if commit:
        version |= {"commit": commit, "modified": bool(changes)}
    return version

"""The code version recorded beside every run's metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ncvqvae
from ncvqvae.code_version import code_version


def test_the_recorded_commit_is_the_checkout_the_package_runs_from() -> None:
    source = Path(ncvqvae.__file__).resolve().parent
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True)
    version = code_version()
    assert version["package"] == ncvqvae.__version__
    if git.returncode != 0:  # an installed wheel: no commit to claim
        assert "commit" not in version
        return
    assert git.stdout.strip().startswith(str(version["commit"])) and len(str(version["commit"])) == 12
    status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True)
    assert version["modified"] == bool(status.stdout.strip())

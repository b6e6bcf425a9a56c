"""The command line: parse options, build one RunConfig, call the pipeline.

    ncvqvae run --dataset GunPoint --ssl barlowtwins --preset cpu
    ncvqvae tokenizer --dataset GunPoint --set stage1.max_steps=200 --out runs/gp
    ncvqvae prior --run runs/gp
    ncvqvae sample --run runs/gp --per-class 10 --out samples.npy
    ncvqvae impute --run runs/gp --data-file gaps.npy --out filled.npy
    ncvqvae evaluate --run runs/gp
    ncvqvae compare runs/a runs/b
    ncvqvae datasets
"""

from __future__ import annotations

import sys

from ncvqvae.cli import study, train, use  # noqa: F401 - registers the commands
from ncvqvae.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]

if __name__ == "__main__":
    sys.exit(main())

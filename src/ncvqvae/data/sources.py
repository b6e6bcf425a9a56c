"""Where datasets come from: a UCR folder, ``$NCVQVAE_DATA``, or aeon's bundled copies.

The lookup order (``--data-dir``, then the environment variable, then aeon) lets a user
point the package at the full UCR archive while tests and first runs work offline.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncvqvae.data.dataset import TimeSeriesDataset, from_arrays
from ncvqvae.data.ucr import find_split_files, read_split
from ncvqvae.errors import DataError

DATA_ENV = "NCVQVAE_DATA"


@dataclass(frozen=True)
class DatasetLocation:
    name: str
    source: str  # "folder" or "aeon"
    train: Path
    test: Path


def aeon_data_root() -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__file__).parent / "data"


def data_roots(data_dir: str | Path | None) -> list[tuple[str, Path]]:
    """The folders searched, in order, each tagged with where it came from."""
    roots: list[tuple[str, Path]] = []
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist")
        roots.append(("folder", folder))
    elif os.environ.get(DATA_ENV):
        folder = Path(os.environ[DATA_ENV]).expanduser()
        if not folder.is_dir():
            raise DataError(f"${DATA_ENV} points to {folder}, which does not exist")
        roots.append(("folder", folder))
    roots.append(("aeon", aeon_data_root()))
    return roots


def available_datasets(data_dir: str | Path | None = None) -> list[DatasetLocation]:
    """Every dataset with both splits present, in lookup order (first wins per name)."""
    found: dict[str, DatasetLocation] = {}
    for source, root in data_roots(data_dir):
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name in found:
                continue
            try:
                files = find_split_files(folder, folder.name)
            except DataError:
                continue
            if files is not None:
                found[folder.name] = DatasetLocation(folder.name, source, *files)
    return list(found.values())


def locate_dataset(name: str, data_dir: str | Path | None = None) -> DatasetLocation:
    for source, root in data_roots(data_dir):
        folder = root / name
        if folder.is_dir():
            files = find_split_files(folder, name)
            if files is not None:
                return DatasetLocation(name, source, *files)
            if source == "folder":
                raise DataError(
                    f"{folder} holds no {name}_TRAIN.tsv / {name}_TEST.tsv (or .ts) files"
                )
    known = [loc.name for loc in available_datasets(data_dir)]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    where = " or ".join(str(root) for _, root in data_roots(data_dir))
    raise DataError(
        f"unknown dataset {name!r} (looked in {where}){hint} "
        f"Run `ncvqvae datasets` to list what is available, or pass --data-dir"
    )


def load_dataset(
    name: str, data_dir: str | Path | None = None, *, resample: int | None = None
) -> TimeSeriesDataset:
    """Load a dataset by name with its original train/test split, labels encoded."""
    location = locate_dataset(name, data_dir)
    x_train, y_train = read_split(location.train)
    x_test, y_test = read_split(location.test)
    return from_arrays(x_train, y_train, x_test, y_test, name=name, resample=resample)


def load_arrays_from_files(
    data_file: Path, labels_file: Path | None, *, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Split a user's ``.npy`` array (and optional labels) into train and test parts.

    Custom data comes without the archive's split, so a seeded, stratified split stands
    in for it; the split is saved with the run so it can be reproduced.
    """
    from sklearn.model_selection import train_test_split

    for path in (data_file, labels_file):
        if path is not None and not Path(path).is_file():
            raise DataError(f"{path} does not exist")
    try:
        x = np.load(data_file, allow_pickle=False)
        y = None if labels_file is None else np.load(labels_file, allow_pickle=False)
    except ValueError as err:
        raise DataError(f"could not read {data_file} / {labels_file} as .npy: {err}") from err
    if x.ndim == 2:
        x = x[:, None, :]
    if y is not None and len(y) != len(x):
        raise DataError(f"{data_file} holds {len(x)} series but {labels_file} {len(y)} labels")
    index = np.arange(len(x))
    stratify = y if y is not None and np.unique(y, return_counts=True)[1].min() >= 2 else None
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    if y is None:
        return x[train_idx], None, x[test_idx], None
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]

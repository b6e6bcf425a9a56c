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

from ncvqvae.data.dataset import (
    RowName,
    TimeSeriesDataset,
    check_labels,
    check_series,
    from_arrays,
    resample_series,
)
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
    splits = []
    for path in (location.train, location.test):
        x, y = read_split(path)
        # Checked per file here, so that a problem is reported as a line of that file.
        unit = "line" if path.suffix == ".tsv" else "series"
        offset = 1 if path.suffix == ".tsv" else 0

        def row_name(i: int, unit: str = unit, offset: int = offset, name: str = path.name) -> str:
            return f"{unit} {i + offset} of {name}"

        splits.append((_checked(x, resample, path.name, row_name), y))
    (x_train, y_train), (x_test, y_test) = splits
    return from_arrays(x_train, y_train, x_test, y_test, name=name)


def _checked(x: np.ndarray, resample: int | None, source: str, row_name: RowName) -> np.ndarray:
    """Resampled (which also checks) when a length is asked for, else checked as is."""
    if resample is None:
        return check_series(x, source, row_name)
    return resample_series(np.asarray(x, dtype=np.float64), resample, source, row_name)


def read_npy(path: Path, what: str) -> np.ndarray:
    """A ``.npy`` file written by ``np.save``; anything else is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    if path.suffix != ".npy":
        raise DataError(
            f"{path.name}: {what} must be a .npy file written by numpy.save (got {path.suffix or 'no suffix'}); "
            "for a .csv or .tsv, load it and np.save it, or put it in UCR layout and use --data-dir"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty (0 bytes); it must hold an array written by numpy.save")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = "it holds pickled objects" if "pickled" in str(err) else str(err).splitlines()[0]
        raise DataError(f"{path.name} could not be read as a .npy array: {reason}") from None
    if array.size == 0:
        raise DataError(f"{path.name} holds an empty array of shape {array.shape}")
    return array


def load_arrays_from_files(
    data_file: Path,
    labels_file: Path | None,
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
    resample: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Split a user's ``.npy`` array (and optional labels) into train and test parts.

    Custom data comes without the archive's split, so a seeded, stratified split stands
    in for it; the split is saved with the run so it can be reproduced.
    """
    from sklearn.model_selection import train_test_split

    x = read_npy(data_file, "series")
    y = None if labels_file is None else read_npy(labels_file, "labels")
    # Checked whole, before the split, so that rows are named as the file numbers them.
    x = _checked(x, resample, Path(data_file).name, lambda i: f"row {i}")
    if y is not None:
        y = check_labels(y, Path(labels_file).name)
        if len(y) != len(x):
            raise DataError(f"{data_file} holds {len(x)} series but {labels_file} {len(y)} labels")
    index = np.arange(len(x))
    stratify = y if y is not None and np.unique(y, return_counts=True)[1].min() >= 2 else None
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    if y is None:
        return x[train_idx], None, x[test_idx], None
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]

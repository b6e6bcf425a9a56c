"""Reading the UCR archive's files: the 2018 ``.tsv`` layout and the ``.ts`` format.

The UCR 2018 files are parsed here rather than with a generic CSV reader so that a bad
file gets a message naming the file, the line and the fix (a non-numeric token, an
empty file, rows of different lengths) instead of a parser's traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ncvqvae.errors import DataError


def read_ucr_tsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one UCR 2018 split file: one series per line, the label first, then values.

    Returns ``x`` (N, 1, L) float64 with NaN where a shorter series is padded, and the raw
    labels (N,) as strings. Tabs, commas or spaces all separate values (the archive uses
    tabs; older copies use commas).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    text = path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path.name} is empty; it must hold one series per line")
    labels: list[str] = []
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        tokens = line.replace(",", " ").split()
        labels.append(tokens[0])
        try:
            rows.append([float(t) for t in tokens[1:]])
        except ValueError:
            bad = next(t for t in tokens[1:] if not _is_float(t))
            raise DataError(
                f"{path.name} line {number}: value {bad!r} is not a number; "
                "the file must hold a label then numeric values"
            ) from None
        if not rows[-1]:
            raise DataError(f"{path.name} line {number}: a label but no values")
    lengths = {len(r) for r in rows}
    x = np.full((len(rows), 1, max(lengths)), np.nan)
    for i, values in enumerate(rows):
        x[i, 0, : len(values)] = values
    return x, np.array(labels)


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_ts_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a sktime/aeon ``.ts`` file; returns (N, C, L) float64 and raw labels.

    Unequal-length series come back NaN-padded at their ends, like the UCR 2018 files, so
    the same checks and the same ``--resample`` fix apply to both formats.
    """
    from aeon.datasets import load_from_ts_file

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        x, y = load_from_ts_file(str(path))
    except Exception as err:  # aeon raises many types for malformed files
        raise DataError(f"{path.name} could not be read as a .ts file: {err}") from err
    if isinstance(x, list):  # unequal lengths: a list of (C, L_i) arrays
        n_channels = x[0].shape[0]
        longest = max(s.shape[1] for s in x)
        padded = np.full((len(x), n_channels, longest), np.nan)
        for i, series in enumerate(x):
            padded[i, :, : series.shape[1]] = series
        x = padded
    return np.asarray(x, dtype=np.float64), np.asarray(y)


def find_split_files(folder: Path, name: str) -> tuple[Path, Path] | None:
    """The TRAIN and TEST files of ``name`` in ``folder``, preferring ``.tsv`` over ``.ts``.

    Returns ``None`` when neither split exists; raises when only one of them does, since
    a half-present dataset is a broken copy that the user should know about.
    """
    missing: Path | None = None
    for suffix in (".tsv", ".ts"):
        train = folder / f"{name}_TRAIN{suffix}"
        test = folder / f"{name}_TEST{suffix}"
        if train.is_file() and test.is_file():
            return train, test
        if missing is None and train.is_file() != test.is_file():
            missing = test if train.is_file() else train
    if missing is not None:
        raise DataError(f"{missing} is missing; a dataset needs both TRAIN and TEST files")
    return None


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_ucr_tsv(path) if path.suffix == ".tsv" else read_ts_file(path)

"""The in-memory dataset every stage consumes, and the checks that make it safe to model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ncvqvae.errors import DataError

MIN_LENGTH = 8  # the STFT (n_fft 8, centred, reflect padding) needs at least one frame's worth
LONG_SERIES = 4096  # beyond this a run on a CPU takes hours; say so before it starts


@dataclass(frozen=True)
class TimeSeriesDataset:
    """A train/test split of labelled series.

    Args:
        name: the dataset's name (used in run folders and reports).
        x_train, x_test: float32 arrays (N, C, L) in the data's own units.
        y_train, y_test: int64 labels 0..K-1, encoded from the training set, or ``None``
            for unlabelled data.
        class_names: the original label of each encoded class, in order.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: tuple[str, ...]

    @property
    def n_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def length(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> bool:
        return self.y_train is not None


def encode_labels(
    train_labels: np.ndarray, test_labels: np.ndarray | None, source: str
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Map raw labels to 0..K-1 using the training set's classes.

    Numeric labels sort numerically (so UCR's "1, 2, 10" stay in that order); a test
    label the training set never saw cannot be scored by any classifier, so it is an
    error rather than a silently dropped series.
    """
    raw_train = np.asarray(train_labels).astype(str)
    names = np.unique(raw_train)
    try:
        names = np.array(sorted(names, key=float))
    except ValueError:
        names = np.array(sorted(names))
    index = {name: i for i, name in enumerate(names)}
    y_train = np.array([index[v] for v in raw_train], dtype=np.int64)
    y_test = None
    if test_labels is not None:
        raw_test = np.asarray(test_labels).astype(str)
        unseen = sorted(str(label) for label in set(raw_test) - set(index))
        if unseen:
            shown = ", ".join(unseen[:5]) + (", ..." if len(unseen) > 5 else "")
            raise DataError(
                f"{source}: test label(s) {shown} do not occur in the training split "
                f"(training labels: {', '.join(_clean_name(n) for n in names)}); every test "
                "class must have training examples"
            )
        y_test = np.array([index[v] for v in raw_test], dtype=np.int64)
    return y_train, y_test, tuple(_clean_name(n) for n in names)


def _clean_name(name: str) -> str:
    try:
        value = float(name)
    except ValueError:
        return name
    return str(int(value)) if value.is_integer() else name


RowName = Callable[[int], str]


def series_number(i: int) -> str:
    return f"series {i}"


def check_series(x: np.ndarray, source: str, row_name: RowName = series_number) -> np.ndarray:
    """Validate an (N, C, L) array, or (N, L) for univariate data, and return it as
    float32 (N, C, L).

    NaN can mean a missing value or, in the UCR 2018 files, the padding of a shorter
    series; the two need different fixes, so the message tells them apart. ``row_name``
    turns an index into the words that find it in the user's file ("line 4").
    """
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise DataError(f"{source}: expected an array of shape (N, C, L), got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{source}: holds no series")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{source}: values must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if np.isinf(x).any():
        rows = np.unique(np.nonzero(np.isinf(x))[0])
        raise DataError(
            f"{source}: infinite values in {len(rows)} series (first: {row_name(int(rows[0]))})"
        )
    nan = np.isnan(x)
    if nan.any():
        rows = np.unique(np.nonzero(nan)[0])
        trailing = all(_nan_only_at_end(x[r]) for r in rows[:100])
        if trailing:
            raise DataError(
                f"{source}: {len(rows)} series are shorter than the others (NaN padding); "
                "pass --resample L to bring every series to a common length"
            )
        raise DataError(
            f"{source}: NaN (missing values) in {len(rows)} series (first: "
            f"{row_name(int(rows[0]))}); fill or drop them before training"
        )
    if x.shape[2] < MIN_LENGTH:
        raise DataError(
            f"{source}: series of length {x.shape[2]} are too short; the STFT needs at "
            f"least {MIN_LENGTH} points (pass --resample {MIN_LENGTH} or longer)"
        )
    return x


def check_labels(y: np.ndarray, source: str) -> np.ndarray:
    """Labels as a 1-D array; (N, 1) is accepted, any other shape is an error."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be a 1-D array (N,), got shape {tuple(y.shape)}")
    if y.dtype == object or np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        bad = [i for i, v in enumerate(y) if v is None or (isinstance(v, float) and not np.isfinite(v))]
        if bad:
            raise DataError(f"{source}: label {bad[0]} is missing (NaN or None)")
    return y


def data_warnings(data: TimeSeriesDataset) -> list[str]:
    """Things that are allowed but that a user should hear about before training."""
    notes = []
    if data.labelled and data.n_classes == 1:
        notes.append(
            f"{data.name} has a single class ({data.class_names[0]}): the prior is in effect "
            "unconditional, and the class-based scores (CAS, cFID, IS) say nothing"
        )
    if data.length > LONG_SERIES:
        notes.append(
            f"{data.name} has series of length {data.length}: time and memory grow with the "
            f"length; expect a run many times slower than at a few hundred points, or pass "
            f"--resample {LONG_SERIES} (or less)"
        )
    return notes


def _nan_only_at_end(series: np.ndarray) -> bool:
    nan = np.isnan(series).any(axis=0)
    first = int(np.argmax(nan))
    return bool(nan[first:].all())


def resample_series(
    x: np.ndarray, length: int, source: str = "data", row_name: RowName = series_number
) -> np.ndarray:
    """Linearly resample (N, C, L) to (N, C, length), ignoring trailing NaN padding.

    Each series is stretched from its own valid length, which is what makes unequal-length
    UCR datasets usable rather than padded with made-up values.
    """
    n, c, _ = x.shape
    out = np.empty((n, c, length), dtype=np.float32)
    grid = np.linspace(0.0, 1.0, length)
    for i in range(n):
        nan_steps = np.isnan(x[i]).any(axis=0)
        n_valid = int(np.argmax(nan_steps)) if nan_steps.any() else x.shape[2]
        if not nan_steps[n_valid:].all():
            raise DataError(
                f"{source}: {row_name(i)} has NaN inside the series (not only padding at its "
                "end); fill missing values before resampling"
            )
        if n_valid < 2:
            raise DataError(f"{source}: {row_name(i)} has fewer than 2 valid points; cannot resample it")
        source = np.linspace(0.0, 1.0, n_valid)
        for ch in range(c):
            values = x[i, ch, :n_valid]
            out[i, ch] = np.interp(grid, source, values)
    return out


def from_arrays(
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    x_test: np.ndarray,
    y_test: np.ndarray | None,
    *,
    name: str = "custom",
    resample: int | None = None,
) -> TimeSeriesDataset:
    """Wrap user arrays (N, C, L), or (N, L) for univariate data, as a dataset, with the
    same checks as the file loaders."""
    if resample is not None:
        x_train = resample_series(np.asarray(x_train, dtype=np.float64), resample)
        x_test = resample_series(np.asarray(x_test, dtype=np.float64), resample)
    x_train = check_series(x_train, f"{name} train")
    x_test = check_series(x_test, f"{name} test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{name}: train series have shape (C, L) = {x_train.shape[1:]} but test series "
            f"{x_test.shape[1:]}; pass --resample L for a common length"
        )
    if (y_train is None) != (y_test is None):
        raise DataError(f"{name}: give labels for both splits or for neither")
    class_names: tuple[str, ...] = ()
    if y_train is not None:
        y_train, y_test = check_labels(y_train, f"{name} train labels"), check_labels(y_test, f"{name} test labels")
        if len(y_train) != len(x_train) or len(y_test) != len(x_test):
            raise DataError(
                f"{name}: {len(x_train)}/{len(x_test)} series but "
                f"{len(y_train)}/{len(y_test)} labels (train/test)"
            )
        y_train, y_test, class_names = encode_labels(y_train, y_test, name)
    return TimeSeriesDataset(name, x_train, y_train, x_test, y_test, class_names)

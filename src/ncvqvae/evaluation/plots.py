"""The report's figures, each a PNG written from plain arrays.

Figures are built with matplotlib's object-oriented API (``Figure`` rendered by the Agg
canvas) and never registered with pyplot: nothing needs a display, no global backend is
switched, and a figure is freed as soon as the function returns, so plotting hundreds of
runs does not leak memory. Every function takes the output path and returns it.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

_REAL_COLOUR = "tab:blue"
_FAKE_COLOUR = "tab:orange"


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=110)
    figure.clear()
    return path


def _class_name(cls: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= cls < len(class_names):
        return str(class_names[cls])
    return f"class {cls}"


def _draw_series(ax: Axes, series: np.ndarray, colour: str) -> None:
    """Overlay thin lines, series: (n, L); say so when a class has no samples."""
    if len(series) == 0:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
        return
    ax.plot(series.T, color=colour, linewidth=0.8, alpha=0.7)


def plot_samples_per_class(
    real_x: np.ndarray,
    real_y: np.ndarray,
    fake_x: np.ndarray,
    fake_y: np.ndarray,
    path: str | Path,
    n_per_class: int = 8,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Real (left column) vs generated (right column) series, one row per class.

    Shows the first ``n_per_class`` series of each class, channel 0 only; both panels of
    a row share the y-axis so amplitudes can be compared by eye.

    Args:
        real_x: (N, C, L); real_y: (N,); fake_x: (M, C, L); fake_y: (M,).
        path: PNG to write.
        class_names: optional display names indexed by label.
    """
    real_x, fake_x = np.asarray(real_x), np.asarray(fake_x)
    real_y, fake_y = np.asarray(real_y), np.asarray(fake_y)
    classes = np.union1d(real_y, fake_y)
    figure = _new_figure(10.0, 0.6 + 1.8 * len(classes))
    axes = figure.subplots(len(classes), 2, sharex=True, squeeze=False)
    for row, cls in enumerate(classes):
        real_ax, fake_ax = axes[row]
        fake_ax.sharey(real_ax)
        _draw_series(real_ax, real_x[real_y == cls][:n_per_class, 0], _REAL_COLOUR)
        _draw_series(fake_ax, fake_x[fake_y == cls][:n_per_class, 0], _FAKE_COLOUR)
        real_ax.set_ylabel(_class_name(int(cls), class_names))
    axes[0, 0].set_title("real")
    axes[0, 1].set_title("generated")
    axes[-1, 0].set_xlabel("time step")
    axes[-1, 1].set_xlabel("time step")
    return _save(figure, path)


def embed_2d(feats: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """Project feats: (N, D) to (N, 2) with PCA or t-SNE (perplexity min(30, N - 1))."""
    feats = np.asarray(feats, dtype=np.float64)
    if len(feats) < 2:
        raise ValueError(f"a 2-D embedding needs at least 2 points, got {len(feats)}")
    if method == "pca":
        embedded = PCA(n_components=min(2, *feats.shape), random_state=seed).fit_transform(feats)
        # One feature (or two points) gives a single component: draw it on a flat line.
        return np.pad(embedded, ((0, 0), (0, 2 - embedded.shape[1])))
    if method == "tsne":
        tsne = TSNE(n_components=2, perplexity=min(30.0, len(feats) - 1.0), init="pca",
                    random_state=seed)
        return tsne.fit_transform(feats)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


def plot_feature_embedding(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    path: str | Path,
    method: str = "pca",
    seed: int = 0,
) -> Path:
    """Scatter of real vs generated FCN features in 2-D, one projection fitted on both.

    Args:
        real_feats: (N, D); fake_feats: (M, D).
        method: "pca" or "tsne".
    """
    real_feats, fake_feats = np.asarray(real_feats), np.asarray(fake_feats)
    embedded = embed_2d(np.concatenate([real_feats, fake_feats]), method, seed)
    real_2d, fake_2d = embedded[: len(real_feats)], embedded[len(real_feats) :]
    figure = _new_figure(6.0, 5.0)
    ax = figure.subplots()
    ax.scatter(*real_2d.T, s=10, alpha=0.6, c=_REAL_COLOUR, label=f"real (n={len(real_2d)})")
    ax.scatter(*fake_2d.T, s=10, alpha=0.6, c=_FAKE_COLOUR,
               label=f"generated (n={len(fake_2d)})")
    ax.set_title(f"{'PCA' if method == 'pca' else 't-SNE'} of evaluator features")
    ax.legend()
    return _save(figure, path)


def codebook_perplexity(counts: np.ndarray) -> float:
    """exp(entropy) of the code-usage distribution: the effective number of codes used."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.sum() <= 0 or (counts < 0).any():
        raise ValueError("code counts must be a non-negative (K,) array with a positive sum")
    p = counts / counts.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def plot_codebook_usage(counts: np.ndarray, path: str | Path) -> Path:
    """Bar chart of how often each code is used; perplexity and dead codes in the title.

    Args:
        counts: (K,) number of tokens assigned to each code.
    """
    counts = np.asarray(counts, dtype=np.float64)
    perplexity = codebook_perplexity(counts)
    figure = _new_figure(max(6.0, 0.12 * len(counts)), 3.5)
    ax = figure.subplots()
    ax.bar(np.arange(len(counts)), counts / counts.sum(), color=_REAL_COLOUR)
    ax.set_xlabel("code index")
    ax.set_ylabel("usage frequency")
    ax.set_title(
        f"codebook usage: perplexity {perplexity:.1f} of {len(counts)} codes, "
        f"{int((counts == 0).sum())} unused"
    )
    return _save(figure, path)


def _class_colours(n: int) -> list[tuple[float, float, float, float]]:
    """Distinct colours: tab10/tab20 while they last, then an evenly spaced colormap."""
    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"
    cmap = colormaps[name]
    if name == "turbo":
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    return [cmap(i) for i in range(n)]


def plot_token_tsne(
    pooled: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> Path:
    """t-SNE of average-pooled token vectors coloured by class: do tokens carry semantics?

    Args:
        pooled: (N, D) pooled z_q per series; labels: (N,) class indices.
        class_names: the dataset's label of each index, for the legend.
    """
    labels = np.asarray(labels)
    embedded = embed_2d(pooled, "tsne", seed)
    classes = np.unique(labels)
    colours = _class_colours(len(classes))
    figure = _new_figure(6.0, 5.0)
    ax = figure.subplots()
    for cls, colour in zip(classes, colours):
        ax.scatter(*embedded[labels == cls].T, s=10, alpha=0.7, color=colour,
                   label=_class_name(int(cls), class_names))
    if len(classes) <= 20:
        ax.legend(title="class", fontsize="small", markerscale=1.5)
    ax.set_title("t-SNE of pooled tokens")
    return _save(figure, path)


def _is_loss_column(name: str) -> bool:
    """Loss columns: names ending in "loss", or "loss_epoch" (Lightning's epoch mean).

    The "_step" variants Lightning adds when a loss is logged on both step and epoch are
    left out: the epoch mean of the same quantity is already drawn.
    """
    return name.endswith("loss") or name.endswith("loss_epoch")


def _to_float(cell: str | None) -> float:
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_loss_curves(csv_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Loss columns of a Lightning ``metrics.csv`` as {name: (epochs, mean per epoch)}.

    CSVLogger writes one row per logging event, with empty cells for the metrics not
    logged then; a loss logged every step has many rows per epoch, averaged here so
    that all curves share the epoch axis.
    """
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [name for name in (rows[0].keys() if rows else []) if name and _is_loss_column(name)]
    curves = {}
    for name in names:
        per_epoch: dict[float, list[float]] = defaultdict(list)
        for row in rows:
            epoch, value = _to_float(row.get("epoch")), _to_float(row.get(name))
            if math.isfinite(epoch) and math.isfinite(value):
                per_epoch[epoch].append(value)
        if per_epoch:
            epochs = np.array(sorted(per_epoch))
            curves[name] = (epochs, np.array([np.mean(per_epoch[e]) for e in epochs]))
    return curves


def plot_training_curves(csv_paths: dict[str, Path], path: str | Path) -> Path:
    """One panel per training stage with all of its loss curves against the epoch.

    Args:
        csv_paths: {stage name: path of its CSVLogger ``metrics.csv``}; stages whose file
            does not exist are skipped (e.g. a stage loaded from a cache).
    """
    stages = {name: Path(p) for name, p in csv_paths.items() if Path(p).is_file()}
    figure = _new_figure(max(5.0, 5.0 * len(stages)), 3.8)
    if not stages:
        ax = figure.subplots()
        ax.text(0.5, 0.5, "no training logs found", ha="center", va="center")
        ax.set_axis_off()
        return _save(figure, path)
    axes = figure.subplots(1, len(stages), squeeze=False)[0]
    for ax, (stage, csv_path) in zip(axes, stages.items()):
        curves = read_loss_curves(csv_path)
        for name, (epochs, values) in curves.items():
            ax.plot(epochs, values, marker="." if len(epochs) < 30 else None, label=name)
        if curves:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "no loss columns", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_title(stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
    return _save(figure, path)


def plot_unconditional_samples(real_x: np.ndarray, fake_x: np.ndarray, path: str | Path, n: int = 12) -> Path:
    """The first n real test series (left) and unconditional samples (right), channel 0."""
    figure = _new_figure(10.0, 3.0)
    real_ax, fake_ax = figure.subplots(1, 2, sharey=True)
    _draw_series(real_ax, np.asarray(real_x)[:n, 0], _REAL_COLOUR)
    _draw_series(fake_ax, np.asarray(fake_x)[:n, 0], _FAKE_COLOUR)
    real_ax.set_title(f"real test (first {min(n, len(real_x))})")
    fake_ax.set_title(f"unconditional samples (first {min(n, len(fake_x))})")
    real_ax.set_xlabel("time step")
    fake_ax.set_xlabel("time step")
    return _save(figure, path)


def plot_class_bands(
    real_x: np.ndarray,
    real_y: np.ndarray,
    fake_x: np.ndarray,
    fake_y: np.ndarray,
    path: str | Path,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Per class (one panel each), the mean +- one sd over series at every time step:
    real in blue, generated in orange, channel 0."""
    real_y, fake_y = np.asarray(real_y), np.asarray(fake_y)
    classes = np.union1d(real_y, fake_y)
    cols = min(len(classes), 3)
    rows = math.ceil(len(classes) / cols)
    figure = _new_figure(4.0 * cols, 0.4 + 2.4 * rows)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, cls in zip(axes, classes):
        for x, colour, name in ((real_x[real_y == cls], _REAL_COLOUR, "real"), (fake_x[fake_y == cls], _FAKE_COLOUR, "generated")):
            if len(x) == 0:
                continue
            mean, sd = x[:, 0].mean(axis=0), x[:, 0].std(axis=0)
            steps = np.arange(len(mean))
            ax.plot(steps, mean, color=colour, label=f"{name} (n={len(x)})")
            ax.fill_between(steps, mean - sd, mean + sd, color=colour, alpha=0.2)
        ax.set_title(_class_name(int(cls), class_names))
        ax.legend(fontsize="small")
    for ax in axes[len(classes):]:
        ax.set_visible(False)
    return _save(figure, path)


def plot_nearest_copies(
    samples: np.ndarray, train: np.ndarray, distances: np.ndarray, nearest: np.ndarray, path: str | Path, n: int = 4
) -> Path:
    """The n samples closest to a training series, each over that series: what a
    near-copy looks like (channel 0).

    Args:
        samples: (M, C, L); train: (N, C, L); distances: (M,) to the nearest training
            series; nearest: (M,) its index.
    """
    order = np.argsort(distances)[:n]
    figure = _new_figure(3.0 * len(order), 2.6)
    axes = np.atleast_1d(figure.subplots(1, len(order), squeeze=False).ravel())
    for ax, i in zip(axes, order):
        ax.plot(train[nearest[i], 0], color=_REAL_COLOUR, linewidth=2.0, alpha=0.6, label="training series")
        ax.plot(samples[i, 0], color=_FAKE_COLOUR, linewidth=1.0, label="sample")
        ax.set_title(f"distance {distances[i]:.2f}", fontsize="small")
    axes[0].legend(fontsize="small")
    return _save(figure, path)

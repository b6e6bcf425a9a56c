"""Augmentations that make the second view x' = T(x) for NC-VQVAE's SSL branch (SPEC section 2).

Every function takes a whole batch ``x: (B, C, L)`` and returns a tensor of the same shape,
dtype and device. Each series in the batch gets its own random draw, and the channels of one
series share it (a time warp or a crop must move all channels together, otherwise a
multivariate series would fall apart). The work is vectorised over the batch: the time
warps build one fractional sampling grid per series and gather from it, so the
augmentations run on the training device without a Python loop over series.

Every random draw comes from the keyword-only ``generator``. Draws are made on the
generator's device and moved to ``x.device``: a generator on the same device as the data
keeps everything there, and a CPU generator still works with CUDA data (at the cost of a
copy), so seeding never depends on where the batch lives.

Example::

    augment = build_augmentation("warp")
    g = torch.Generator().manual_seed(0)
    x_view = augment(x, g)  # x: (B, C, L) -> (B, C, L)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from ncvqvae.config.ssl_schema import AugmentationConfig

AugmentFn = Callable[..., Tensor]
"""An augmentation: ``fn(x, *, generator) -> Tensor``; x and the result are (B, C, L)."""


# --------------------------------------------------------------------------------------------
# Random draws and resampling shared by the augmentations in this file.
# --------------------------------------------------------------------------------------------


def _check_batch(x: Tensor, min_length: int = 1) -> None:
    """Fail early, naming the shape, instead of deep inside a gather."""
    if x.dim() != 3:
        raise ValueError(
            f"augmentations expect a batch of shape (B, C, L); got shape {tuple(x.shape)}. "
            "Add the channel axis with x.unsqueeze(1) for univariate series."
        )
    if not x.is_floating_point():
        raise ValueError(f"augmentations expect a floating-point batch; got dtype {x.dtype}.")
    if x.shape[-1] < min_length:
        raise ValueError(
            f"this augmentation needs series of length >= {min_length}; got L = {x.shape[-1]}."
        )


def _grid_dtype(x: Tensor) -> torch.dtype:
    """Sampling positions need at least float32 precision even if x is half precision."""
    return torch.promote_types(x.dtype, torch.float32)


def _uniform(
    shape: tuple[int, ...], *, generator: torch.Generator, like: Tensor, dtype: torch.dtype
) -> Tensor:
    """U(0, 1) draws of ``shape`` from ``generator``, returned on ``like``'s device."""
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return u.to(like.device)


def _normal(
    shape: tuple[int, ...], *, generator: torch.Generator, like: Tensor, dtype: torch.dtype
) -> Tensor:
    """N(0, 1) draws of ``shape`` from ``generator``, returned on ``like``'s device."""
    n = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return n.to(like.device)


def _randint(high: int, n: int, *, generator: torch.Generator, like: Tensor) -> Tensor:
    """n integers uniform on {0, ..., high}, returned on ``like``'s device as int64."""
    draws = torch.randint(0, high + 1, (n,), generator=generator, device=generator.device)
    return draws.to(like.device)


def _resample(x: Tensor, positions: Tensor) -> Tensor:
    """Read x at fractional time positions by linear interpolation.

    Args:
        x: (B, C, L) the series.
        positions: (B, L_out) source positions in [0, L - 1], one row per series; all
            channels of a series are read at the same positions.

    Returns:
        (B, C, L_out) in x's dtype.
    """
    length = x.shape[-1]
    positions = positions.clamp(0, length - 1)
    left = positions.floor().long().clamp(max=length - 1)
    right = (left + 1).clamp(max=length - 1)
    frac = (positions - left.to(positions.dtype)).to(x.dtype).unsqueeze(1)
    channels = x.shape[1]
    x_left = x.gather(2, left.unsqueeze(1).expand(-1, channels, -1))
    x_right = x.gather(2, right.unsqueeze(1).expand(-1, channels, -1))
    return torch.lerp(x_left, x_right, frac)


def _window_length(length: int, ratio: float, *, minimum: int, maximum: int) -> int:
    """round(ratio * L), kept where the augmentation is defined."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"window ratio must be in (0, 1]; got {ratio}.")
    return min(max(int(round(ratio * length)), minimum), maximum)


# --------------------------------------------------------------------------------------------
# The augmentations.
# --------------------------------------------------------------------------------------------


def amplitude_resize(x: Tensor, *, generator: torch.Generator, std: float = 0.2) -> Tensor:
    """Scale each series by its own factor 1 + N(0, std).

    Args:
        x: (B, C, L).
        generator: source of the B factors.
        std: standard deviation of the factor around 1 (0.2 in NC-VQVAE).

    Returns:
        (B, C, L), x times a per-series factor shared by its channels.
    """
    _check_batch(x)
    noise = _normal((x.shape[0], 1, 1), generator=generator, like=x, dtype=x.dtype)
    return x * (1.0 + std * noise)


def gaussian_noise(x: Tensor, *, generator: torch.Generator, std: float = 0.05) -> Tensor:
    """Add i.i.d. N(0, std^2) noise to every value.

    Args:
        x: (B, C, L), assumed standardized, so std is in units of the data's std.
        generator: source of the B * C * L noise values.
        std: noise standard deviation (0.05 in NC-VQVAE).

    Returns:
        (B, C, L).
    """
    _check_batch(x)
    return x + std * _normal(tuple(x.shape), generator=generator, like=x, dtype=x.dtype)


def window_warp(
    x: Tensor,
    *,
    generator: torch.Generator,
    window_ratio: float = 0.4,
    scale_range: tuple[float, float] = (0.9, 2.0),
) -> Tensor:
    """Stretch a random window of each series, then resample the whole series back to L.

    Samples sit at integer times 0..L-1. Per series, a window [a, a + w] with
    w = round(window_ratio * L) and a random integer start a is stretched by k ~ U(scale_range),
    which makes the warped series (L - 1) + w (k - 1) time units long; the output samples
    that warped series at L evenly spaced times. Instead of materialising the warped series
    (whose length differs per series) each output time t is mapped straight back to its
    source time, which is the piecewise-linear, monotone map

        src(t) = t - (k - 1) / k * clamp(t - a, 0, w k)

    (identity before the window, slope 1/k inside it, shifted identity after it), and x is
    read there by linear interpolation. This equals "interpolate the window, concatenate,
    interpolate back to L" up to where the two interpolations round, and is one gather.

    Args:
        x: (B, C, L) with L >= 3.
        generator: source of the per-series start and scale.
        window_ratio: window length as a fraction of L (0.4 in NC-VQVAE); the window is
            shortened to L - 2 if needed so that it fits with at least one sample outside.
        scale_range: (low, high) of the uniform stretch factor; k < 1 shrinks the window.

    Returns:
        (B, C, L). A constant series stays constant and a monotone one stays monotone.
    """
    _check_batch(x, min_length=3)
    low, high = scale_range
    if not 0.0 < low <= high:
        raise ValueError(f"scale_range must satisfy 0 < low <= high; got {scale_range}.")
    batch, length = x.shape[0], x.shape[-1]
    dtype = _grid_dtype(x)
    width = _window_length(length, window_ratio, minimum=1, maximum=length - 2)
    start = _randint(length - 1 - width, batch, generator=generator, like=x).to(dtype)
    scale = low + (high - low) * _uniform((batch,), generator=generator, like=x, dtype=dtype)

    start, scale = start.unsqueeze(1), scale.unsqueeze(1)  # (B, 1)
    warped_length = (length - 1) + width * (scale - 1)  # (B, 1)
    steps = torch.linspace(0.0, 1.0, length, device=x.device, dtype=dtype)  # (L,)
    t = steps * warped_length  # (B, L) times on the warped axis
    stretched = (t - start).clamp(min=0).minimum(width * scale)
    source = t - (scale - 1) / scale * stretched
    return _resample(x, source)


def random_crop(x: Tensor, *, generator: torch.Generator, crop_ratio: float = 0.4) -> Tensor:
    """Crop a random window of round(crop_ratio * L) samples and stretch it back to L.

    Args:
        x: (B, C, L) with L >= 2.
        generator: source of the per-series crop start.
        crop_ratio: crop length as a fraction of L (SPEC: 0.4); at least 2 samples are kept
            so that the crop has a slope to interpolate.

    Returns:
        (B, C, L), the crop linearly resampled: a linear ramp stays a linear ramp.
    """
    _check_batch(x, min_length=2)
    batch, length = x.shape[0], x.shape[-1]
    dtype = _grid_dtype(x)
    width = _window_length(length, crop_ratio, minimum=2, maximum=length)
    start = _randint(length - width, batch, generator=generator, like=x).to(dtype)
    steps = torch.linspace(0.0, float(width - 1), length, device=x.device, dtype=dtype)
    return _resample(x, start.unsqueeze(1) + steps)


def slice_and_shuffle(x: Tensor, *, generator: torch.Generator, n_segments: int = 4) -> Tensor:
    """Cut each series into n_segments contiguous pieces and put them in a random order.

    The cut points are random (n_segments - 1 distinct positions in 1..L-1 per series, so
    every piece has at least one sample) rather than equal, so that the seams do not sit at
    the same times in every view, which would be a fixed cue rather than a variation. The
    permutation is uniform over all orders, the identity included, so about 1 series in
    n_segments! comes back unchanged. Values are only moved, never interpolated, so each
    series keeps its multiset of values exactly.

    Args:
        x: (B, C, L) with L >= n_segments.
        generator: source of the per-series cut points and permutation.
        n_segments: number of pieces (4 in NC-VQVAE).

    Returns:
        (B, C, L).
    """
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1; got {n_segments}.")
    _check_batch(x, min_length=n_segments)
    batch, length = x.shape[0], x.shape[-1]
    # Ranking uniform keys gives a uniform random subset (the first n - 1) and permutation.
    cut_keys = _uniform((batch, length - 1), generator=generator, like=x, dtype=torch.float32)
    cuts = cut_keys.argsort(dim=1)[:, : n_segments - 1].sort(dim=1).values + 1  # (B, n-1)
    zero = torch.zeros(batch, 1, dtype=torch.long, device=x.device)
    end = torch.full((batch, 1), length, dtype=torch.long, device=x.device)
    starts = torch.cat([zero, cuts], dim=1)  # (B, n) piece starts in x
    sizes = torch.cat([cuts, end], dim=1) - starts  # (B, n)

    order_keys = _uniform((batch, n_segments), generator=generator, like=x, dtype=torch.float32)
    order = order_keys.argsort(dim=1)  # (B, n): output slot -> piece
    moved_sizes = sizes.gather(1, order)
    moved_starts = moved_sizes.cumsum(dim=1) - moved_sizes  # (B, n) slot starts in output

    positions = torch.arange(length, device=x.device).expand(batch, length).contiguous()
    slot = torch.searchsorted(moved_starts, positions, right=True) - 1  # (B, L)
    piece = order.gather(1, slot)
    source = starts.gather(1, piece) + positions - moved_starts.gather(1, slot)
    return x.gather(2, source.unsqueeze(1).expand(-1, x.shape[1], -1))


def magnitude_warp(
    x: Tensor, *, generator: torch.Generator, std: float = 0.2, n_knots: int = 4
) -> Tensor:
    """Multiply each series by a smooth random curve around 1.

    The curve passes through n_knots + 2 evenly spaced knots (both ends included) with
    values 1 + N(0, std), and is a Catmull-Rom cubic between them: smooth (continuous slope),
    local and closed-form, so it needs no linear solve as a natural cubic spline would.
    One curve per series, shared by its channels.

    Args:
        x: (B, C, L) with L >= 2.
        generator: source of the per-series knot values.
        std: standard deviation of the knot values around 1.
        n_knots: number of interior knots (4, as in Um et al. 2017's magnitude warp).

    Returns:
        (B, C, L).
    """
    _check_batch(x, min_length=2)
    if n_knots < 0:
        raise ValueError(f"n_knots must be >= 0; got {n_knots}.")
    batch, length = x.shape[0], x.shape[-1]
    dtype = _grid_dtype(x)
    knots = 1.0 + std * _normal((batch, n_knots + 2), generator=generator, like=x, dtype=dtype)
    curve = _catmull_rom(knots, length)
    return x * curve.to(x.dtype).unsqueeze(1)


def _catmull_rom(knots: Tensor, length: int) -> Tensor:
    """Evaluate a Catmull-Rom spline through evenly spaced knots at L evenly spaced points.

    Args:
        knots: (B, K) knot values, K >= 2; knot k sits at time k (L - 1) / (K - 1).
        length: number of output points L.

    Returns:
        (B, L) the curve; it equals the knot values at the knots.
    """
    batch, n = knots.shape
    # Central differences inside, one-sided at the ends (in knot-index units).
    tangents = torch.cat(
        [
            knots[:, 1:2] - knots[:, 0:1],
            (knots[:, 2:] - knots[:, :-2]) / 2,
            knots[:, -1:] - knots[:, -2:-1],
        ],
        dim=1,
    )
    where = torch.linspace(0.0, n - 1.0, length, device=knots.device, dtype=knots.dtype)
    segment = where.floor().long().clamp(max=n - 2)
    u = where - segment
    u2, u3 = u * u, u * u * u
    h00, h10 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u
    h01, h11 = -2 * u3 + 3 * u2, u3 - u2
    left, right = segment.expand(batch, -1), (segment + 1).expand(batch, -1)
    return (
        h00 * knots.gather(1, left)
        + h10 * tangents.gather(1, left)
        + h01 * knots.gather(1, right)
        + h11 * tangents.gather(1, right)
    )


# --------------------------------------------------------------------------------------------
# Named augmentations.
# --------------------------------------------------------------------------------------------

AUGMENTATIONS: dict[str, AugmentFn] = {
    "amplitude_resize": amplitude_resize,
    "window_warp": window_warp,
    "slice_and_shuffle": slice_and_shuffle,
    "gaussian_noise": gaussian_noise,
    "random_crop": random_crop,
    "magnitude_warp": magnitude_warp,
}
"""Every single augmentation by name, each with its NC-VQVAE default parameters."""

AUGMENTATION_SETS: dict[str, tuple[AugmentFn, ...]] = {
    "warp": (window_warp, amplitude_resize),
    "slice": (slice_and_shuffle,),
    "gauss": (gaussian_noise,),
}
"""The named sets of NC-VQVAE; the functions are applied in the order listed."""

DEFAULT_AUGMENTATION = "warp"


@dataclass(frozen=True)
class Augmentation:
    """A named sequence of augmentations applied in order with one generator.

    Attributes:
        name: the set or function name it was built from (for logs and configs).
        steps: the functions, applied left to right.
    """

    name: str
    steps: tuple[AugmentFn, ...]

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Return the augmented view of x: (B, C, L) -> (B, C, L)."""
        for step in self.steps:
            x = step(x, generator=generator)
        return x


def _set_with_magnitudes(name: str, magnitudes: AugmentationConfig) -> tuple[AugmentFn, ...]:
    """A named set with the magnitudes of the config (the defaults are SPEC section 2's)."""
    m = magnitudes
    steps = {
        "warp": (
            partial(window_warp, window_ratio=m.warp_window, scale_range=(m.warp_scale_min, m.warp_scale_max)),
            partial(amplitude_resize, std=m.amplitude_std),
        ),
        "slice": (partial(slice_and_shuffle, n_segments=m.slices),),
        "gauss": (partial(gaussian_noise, std=m.noise_std),),
    }
    return steps[name]


def build_augmentation(name: str, magnitudes: AugmentationConfig | None = None) -> Augmentation:
    """Look up a named set ("warp", "slice", "gauss") or a single augmentation by name;
    ``magnitudes`` sets the sets' strengths (``ssl.augmentation`` in the config).

    Raises:
        ValueError: if the name is unknown; the message lists the valid names.
    """
    if name in AUGMENTATION_SETS:
        if magnitudes is not None:
            return Augmentation(name=name, steps=_set_with_magnitudes(name, magnitudes))
        return Augmentation(name=name, steps=AUGMENTATION_SETS[name])
    if name in AUGMENTATIONS:
        return Augmentation(name=name, steps=(AUGMENTATIONS[name],))
    raise ValueError(
        f"unknown augmentation {name!r}; valid names are the sets "
        f"{sorted(AUGMENTATION_SETS)} and the single augmentations {sorted(AUGMENTATIONS)}."
    )

"""Tests for the SSL views: shapes, determinism, statistics and shape-preserving warps."""

from __future__ import annotations

import math

import pytest
import torch

from ncvqvae.data.augment import (
    AUGMENTATION_SETS,
    AUGMENTATIONS,
    Augmentation,
    amplitude_resize,
    build_augmentation,
    gaussian_noise,
    magnitude_warp,
    random_crop,
    slice_and_shuffle,
    window_warp,
)

ALL_NAMES = sorted(AUGMENTATIONS) + sorted(AUGMENTATION_SETS)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sines(batch: int = 16, channels: int = 2, length: int = 128) -> torch.Tensor:
    """A real-ish batch: sine waves of different frequency and phase per series/channel."""
    g = _gen(123)
    t = torch.linspace(0, 1, length)
    freq = 1 + 5 * torch.rand(batch, channels, 1, generator=g)
    phase = 2 * math.pi * torch.rand(batch, channels, 1, generator=g)
    return torch.sin(2 * math.pi * freq * t + phase)


def _ramps(batch: int, length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(B, 1, L) strictly increasing linear ramps with per-series slope and offset."""
    g = _gen(7)
    slope = 0.5 + torch.rand(batch, 1, 1, generator=g, dtype=dtype)
    offset = torch.randn(batch, 1, 1, generator=g, dtype=dtype)
    return offset + slope * torch.arange(length, dtype=dtype)


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_device_kept(name: str, dtype: torch.dtype) -> None:
    x = _sines().to(dtype)
    y = build_augmentation(name)(x, _gen(0))
    assert y.shape == x.shape
    assert y.dtype == dtype
    assert y.device == x.device
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_same_seed_same_output_different_seed_different(name: str) -> None:
    x = _sines()
    augment = build_augmentation(name)
    assert torch.equal(augment(x, _gen(1)), augment(x, _gen(1)))
    assert not torch.equal(augment(x, _gen(1)), augment(x, _gen(2)))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_each_series_gets_its_own_draw(name: str) -> None:
    x = _sines(batch=1).expand(8, -1, -1).contiguous()
    y = build_augmentation(name)(x, _gen(3))
    assert not all(torch.equal(y[0], y[i]) for i in range(1, 8))


def test_amplitude_resize_factor_statistics() -> None:
    x = torch.ones(4000, 1, 8)
    y = amplitude_resize(x, generator=_gen(0), std=0.2)
    factors = y[:, 0, 0]
    # One factor per series, shared over channels and time.
    assert torch.equal(y, factors[:, None, None].expand_as(y))
    # Standard error of the mean is 0.2 / sqrt(4000) ~ 0.003.
    assert abs(factors.mean().item() - 1.0) < 0.015
    assert abs(factors.std().item() - 0.2) < 0.015


def test_gaussian_noise_std() -> None:
    x = torch.zeros(64, 1, 256)
    y = gaussian_noise(x, generator=_gen(0), std=0.05)
    assert abs(y.mean().item()) < 0.002
    assert abs(y.std().item() - 0.05) < 0.002


def test_slice_and_shuffle_keeps_values_and_changes_order() -> None:
    x = torch.randn(200, 2, 50, generator=_gen(0))
    y = slice_and_shuffle(x, generator=_gen(1), n_segments=4)
    assert torch.equal(y.sort(dim=-1).values, x.sort(dim=-1).values)
    changed = (y != x).any(dim=-1).any(dim=-1).float().mean().item()
    # A uniform permutation of 4 pieces is the identity with probability 1/24.
    assert changed > 0.85


def test_slice_and_shuffle_moves_contiguous_pieces() -> None:
    # On a ramp 0..L-1 a piece is a run of consecutive integers, so the output has exactly
    # n_segments runs, i.e. at most n_segments - 1 places where the step is not +1.
    x = torch.arange(40, dtype=torch.float32).expand(100, 1, 40).contiguous()
    y = slice_and_shuffle(x, generator=_gen(2), n_segments=4)
    breaks = (y.diff(dim=-1) != 1).sum(dim=-1)
    assert (breaks <= 3).all()
    # The channels of a series move together.
    x2 = torch.cat([x, -x], dim=1)
    y2 = slice_and_shuffle(x2, generator=_gen(2), n_segments=4)
    assert torch.equal(y2[:, 1], -y2[:, 0])


def test_window_warp_keeps_constant_series_constant() -> None:
    x = torch.full((32, 3, 100), 2.5, dtype=torch.float64)
    y = window_warp(x, generator=_gen(0))
    assert torch.allclose(y, x)


def test_window_warp_keeps_ramp_monotone_and_endpoints() -> None:
    x = _ramps(64, 97)
    y = window_warp(x, generator=_gen(0))
    assert (y.diff(dim=-1) > 0).all()
    # The warp maps [0, L - 1] onto itself: first and last samples stay put.
    assert torch.allclose(y[..., 0], x[..., 0])
    assert torch.allclose(y[..., -1], x[..., -1])
    # ... and it does warp: a stretched window bends the straight line.
    assert not torch.allclose(y, x, atol=1e-3)


def test_window_warp_scale_one_is_identity() -> None:
    x = _sines().double()
    y = window_warp(x, generator=_gen(0), scale_range=(1.0, 1.0))
    assert torch.allclose(y, x)


def test_random_crop_of_ramp_is_ramp() -> None:
    length = 100
    x = _ramps(64, length)
    y = random_crop(x, generator=_gen(0), crop_ratio=0.4)
    steps = y.diff(dim=-1)
    # Constant step = a linear ramp; its slope shrinks by (w - 1) / (L - 1), w = 40.
    assert torch.allclose(steps, steps[..., :1].expand_as(steps))
    slope = x[..., 1] - x[..., 0]
    assert torch.allclose(steps[..., 0], slope * 39 / 99)
    # The crop lies inside the original range.
    assert (y[..., 0] >= x[..., 0] - 1e-9).all() and (y[..., -1] <= x[..., -1] + 1e-9).all()


def test_magnitude_warp_is_smooth_and_centred_on_one() -> None:
    x = torch.ones(500, 1, 256, dtype=torch.float64)
    curve = magnitude_warp(x, generator=_gen(0), std=0.2, n_knots=4)[:, 0]
    assert abs(curve.mean().item() - 1.0) < 0.02
    assert curve.std().item() > 0.1
    # Smooth: neighbouring samples differ by a small fraction of the curve's spread.
    assert curve.diff(dim=-1).abs().max().item() < 0.05
    assert torch.equal(magnitude_warp(x, generator=_gen(0), std=0.0), x)


def test_named_sets_apply_in_order() -> None:
    x = _sines()
    y = build_augmentation("warp")(x, _gen(5))
    g = _gen(5)
    expected = amplitude_resize(window_warp(x, generator=g), generator=g)
    assert torch.equal(y, expected)


def test_single_function_names_are_accepted() -> None:
    augment = build_augmentation("random_crop")
    assert isinstance(augment, Augmentation)
    assert augment.steps == (random_crop,)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="'jitter'.*warp.*random_crop"):
        build_augmentation("jitter")


def test_rejects_unbatched_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, L\)"):
        gaussian_noise(torch.zeros(10), generator=_gen(0))

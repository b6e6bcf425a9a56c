"""Sample-quality metrics: IS, FID (also per class) and distribution statistics.

Everything here is a pure NumPy/SciPy function of arrays, computed in float64, so the
numbers do not depend on the device the features came from.

- :func:`inception_score` and :func:`frechet_distance` follow Salimans et al. (2016) and
  Heusel et al. (2017), with the evaluator FCN (``evaluation.fcn``) in place of Inception.
- The distribution statistics between real (N, C, L) and generated (M, C, L) series follow
  the spirit of TSGBench (Ang et al., 2024): marginal distributions per time step,
  autocorrelation, skewness and kurtosis. Exact conventions are documented per function;
  they are comparable across runs of this package, not necessarily with published tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

_EPS = 1e-12


def inception_score(probs: np.ndarray, n_splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean of p(y|x) over a split.

    Args:
        probs: (N, K) class probabilities of generated samples from the evaluator.
        n_splits: the samples are cut into this many consecutive parts (fewer if N is
            smaller); each gives one score.

    Returns:
        (mean, std) of the per-split scores. 1 means every sample gets the same class
        distribution; K means confident predictions spread evenly over K classes.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must have shape (N, K) with N >= 1, got {probs.shape}")
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    parts = np.array_split(probs, min(n_splits, len(probs)))
    scores = [_split_inception_score(part) for part in parts]
    return float(np.mean(scores)), float(np.std(scores))


def _split_inception_score(probs: np.ndarray) -> float:
    """IS of one split, probs: (n, K). Logs are clipped at eps so p = 0 adds 0, not NaN."""
    log_p = np.log(np.clip(probs, _EPS, None))
    log_marginal = np.log(np.clip(probs.mean(axis=0), _EPS, None))
    kl = (probs * (log_p - log_marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance (D, D); round-off negatives clipped to 0."""
    sym = (matrix + matrix.T) / 2.0
    eigvals, eigvecs = np.linalg.eigh(sym)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance_from_stats(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2); means (D,), covs (D, D).

    d = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

    ``scipy.linalg.sqrtm(S1 @ S2)`` is the usual route but S1 S2 is not symmetric: for
    rank-deficient covariances (fewer samples than dimensions) it returns complex values
    and can make the distance negative. Instead, Tr((S1 S2)^(1/2)) equals the sum of the
    singular values of sqrt(S1) sqrt(S2) (the eigenvalues of sqrt(S1) S2 sqrt(S1) are
    their squares), which only needs symmetric eigendecompositions and an SVD, all real,
    without squaring the condition number.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size,) * 2:
        raise ValueError(
            f"incompatible Gaussian statistics: means {mu1.shape}, {mu2.shape}; "
            f"covariances {sigma1.shape}, {sigma2.shape}"
        )
    diff = mu1 - mu2
    product = _sqrtm_psd(sigma1) @ _sqrtm_psd(sigma2)
    tr_covmean = np.linalg.svd(product, compute_uv=False).sum()
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return float(max(distance, 0.0))


def _gaussian_fit(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of feats: (N, D)."""
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def frechet_distance(
    feats_a: np.ndarray, feats_b: np.ndarray, *, warn_few_samples: bool = True
) -> float:
    """FID between two feature sets (N, D) and (M, D), each fitted by a Gaussian.

    With fewer than 2 D samples the covariance estimate is poor (rank-deficient below D)
    and FID is biased upwards; a warning says so unless ``warn_few_samples`` is False.
    Compare FIDs only between runs with the same sample counts.
    """
    feats_a = np.asarray(feats_a, dtype=np.float64)
    feats_b = np.asarray(feats_b, dtype=np.float64)
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D) with the same D, got {feats_a.shape} "
            f"and {feats_b.shape}"
        )
    n_min, dim = min(len(feats_a), len(feats_b)), feats_a.shape[1]
    if n_min < 2:
        raise ValueError(
            f"FID needs at least 2 samples per set, got {len(feats_a)} and {len(feats_b)}"
        )
    if warn_few_samples and n_min < 2 * dim:
        warnings.warn(
            f"FID from {len(feats_a)} and {len(feats_b)} samples of {dim}-d features "
            f"(fewer than 2 x {dim}): the covariance estimate is poor and FID is biased "
            "upwards; compare only with runs using the same sample counts",
            stacklevel=2,
        )
    return _frechet_from_samples(feats_a, feats_b)


def _frechet_from_samples(a: np.ndarray, b: np.ndarray) -> float:
    """FID of the Gaussian fits of a (N, D) and b (M, D), from the samples directly.

    With A and B the centred samples, S1 = A^T A / (N - 1) and S2 = B^T B / (M - 1), and
    the non-zero eigenvalues of S1 S2 are those of (A B^T)(A B^T)^T / ((N - 1)(M - 1)), so
    Tr((S1 S2)^(1/2)) is the nuclear norm of A B^T over sqrt((N - 1)(M - 1)). That is
    exact, real, and needs one SVD of the smaller of (N x M) and (D x D): a 2000-d ROCKET
    space costs no more than the 128-d FCN one when the sample counts are small.
    """
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    centred_a, centred_b = a - mean_a, b - mean_b
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    if min(len(a), len(b)) <= a.shape[1]:
        cross = centred_a @ centred_b.T
    else:
        cross = _sqrtm_psd(centred_a.T @ centred_a) @ _sqrtm_psd(centred_b.T @ centred_b)
    tr_covmean = np.linalg.svd(cross, compute_uv=False).sum() / scale
    diff = mean_a - mean_b
    trace_a = (centred_a**2).sum() / (len(a) - 1)
    trace_b = (centred_b**2).sum() / (len(b) - 1)
    return float(max(diff @ diff + trace_a + trace_b - 2.0 * tr_covmean, 0.0))


def class_conditional_fid(
    feats_real: np.ndarray,
    y_real: np.ndarray,
    feats_fake: np.ndarray,
    y_fake: np.ndarray,
    min_per_class: int = 2,
) -> float | None:
    """Mean over the real data's classes of the FID between same-class feature sets.

    Args:
        feats_real, feats_fake: (N, D) and (M, D) features.
        y_real, y_fake: (N,) and (M,) labels (generated: the class they were asked for).
        min_per_class: every class needs at least this many samples (>= 2, the minimum
            for a covariance) in both sets.

    Returns:
        The mean FID, or None when some class has fewer than ``min_per_class`` samples in
        either set. Per-class counts are usually below 2 D, so no few-sample warning is
        raised here: the value is biased upwards and only comparable at equal counts.
    """
    if min_per_class < 2:
        raise ValueError(
            f"min_per_class must be >= 2 (a covariance needs 2 samples), got {min_per_class}"
        )
    y_real, y_fake = np.asarray(y_real), np.asarray(y_fake)
    if len(y_real) != len(feats_real) or len(y_fake) != len(feats_fake):
        raise ValueError("each feature set needs exactly one label per row")
    distances = []
    for cls in np.unique(y_real):
        real_cls, fake_cls = feats_real[y_real == cls], feats_fake[y_fake == cls]
        if min(len(real_cls), len(fake_cls)) < min_per_class:
            return None
        distances.append(frechet_distance(real_cls, fake_cls, warn_few_samples=False))
    return float(np.mean(distances))


def _check_series_pair(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 (N, C, L) / (M, C, L) with matching C and L."""
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 3 or fake.ndim != 3 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"series must be (N, C, L) and (M, C, L) with the same C and L, got "
            f"{real.shape} and {fake.shape}"
        )
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("distribution statistics need at least 2 series per set")
    return real, fake


def _histogram_densities(
    x: np.ndarray, low: np.ndarray, width: np.ndarray, n_bins: int
) -> np.ndarray:
    """Per (channel, step) densities of x: (N, C, L) on fixed bins -> (C, L, n_bins).

    Values outside [low, low + n_bins * width] count towards N but fall in no bin, so
    mass a generator puts outside the real range lowers its densities (unlike
    ``np.histogram(density=True)``, which would renormalise over the kept values).
    """
    position = (x - low) / width
    index = np.floor(position).astype(np.int64)
    index[np.isclose(position, n_bins)] = n_bins - 1  # the right edge belongs to the last bin
    inside = (index >= 0) & (index < n_bins)
    counts = np.stack([((index == b) & inside).sum(axis=0) for b in range(n_bins)], axis=-1)
    return counts / (len(x) * width[..., None])


def marginal_distribution_difference(
    real: np.ndarray, fake: np.ndarray, n_bins: int = 20
) -> float:
    """Mean absolute difference of per-time-step histogram densities (0 = identical).

    For each channel and time step, ``n_bins`` equal bins span the real data's range at
    that step (a constant step gets a range of +-0.5, as numpy does); densities are
    counts / (count * bin width). The mean |density_real - density_fake| over bins is
    averaged over steps and channels. Its unit is 1 / (data unit), so it depends on the
    scale of the data: compare in the same (standardized) units.

    Args:
        real: (N, C, L) real series; fake: (M, C, L) generated series.
    """
    real, fake = _check_series_pair(real, fake)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    low, high = real.min(axis=0), real.max(axis=0)
    constant = high <= low
    low = np.where(constant, low - 0.5, low)
    high = np.where(constant, high + 0.5, high)
    width = (high - low) / n_bins
    density_real = _histogram_densities(real, low, width, n_bins)
    density_fake = _histogram_densities(fake, low, width, n_bins)
    diff = np.abs(density_real - density_fake)
    return float(diff.mean())


def _mean_autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags 1..max_lag, averaged over series: (N, C, L) -> (C, max_lag).

    Per series the usual biased estimator sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2,
    via the FFT (zero-padded to avoid wrap-around) so long series stay cheap. Constant
    series have no defined autocorrelation and count as 0.
    """
    length = x.shape[-1]
    centred = x - x.mean(axis=-1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * length, axis=-1)
    autocov = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * length, axis=-1)[..., : max_lag + 1]
    variance = autocov[..., :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = np.where(variance > _EPS, autocov / variance, 0.0)
    return acf[..., 1:].mean(axis=0)


def autocorrelation_difference(
    real: np.ndarray, fake: np.ndarray, max_lag: int | None = None
) -> float:
    """Mean absolute difference of the mean autocorrelation functions (0 = identical).

    Each set's autocorrelation at lags 1..max_lag is averaged over its series per channel
    (see :func:`_mean_autocorrelation`); the result is the mean of |acf_real - acf_fake|
    over channels and lags. The mean (rather than an L2 norm) keeps it in [0, 2] whatever
    the number of lags, so lengths are comparable.

    Args:
        real: (N, C, L); fake: (M, C, L).
        max_lag: largest lag, default L - 1.
    """
    real, fake = _check_series_pair(real, fake)
    length = real.shape[-1]
    max_lag = length - 1 if max_lag is None else max_lag
    if not 1 <= max_lag <= length - 1:
        raise ValueError(f"max_lag must be in 1..{length - 1} for length {length}, got {max_lag}")
    diff = np.abs(_mean_autocorrelation(real, max_lag) - _mean_autocorrelation(fake, max_lag))
    return float(diff.mean())


def _per_step_moment(x: np.ndarray, moment: Callable[..., np.ndarray]) -> np.ndarray:
    """A scipy moment over series at every (channel, step): (N, C, L) -> (C, L).

    A step where all series are equal has no defined skewness or kurtosis (scipy returns
    NaN with a warning); it counts as 0, the value of a symmetric, normal-tailed law.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = moment(x, axis=0)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def _moment_difference(
    real: np.ndarray, fake: np.ndarray, moment: Callable[..., np.ndarray]
) -> float:
    """|mean over steps of the real moment - the same for fake|, averaged over channels."""
    real, fake = _check_series_pair(real, fake)
    per_channel_real = _per_step_moment(real, moment).mean(axis=-1)
    per_channel_fake = _per_step_moment(fake, moment).mean(axis=-1)
    return float(np.abs(per_channel_real - per_channel_fake).mean())


def skewness_difference(real: np.ndarray, fake: np.ndarray) -> float:
    """Absolute difference of the mean per-time-step skewness (averaged over channels).

    Skewness is taken over series at each (channel, step) (``scipy.stats.skew``, biased),
    then averaged over steps. Averaging before the difference keeps the noisy per-step
    estimates of small datasets from dominating. real: (N, C, L); fake: (M, C, L).
    """
    return _moment_difference(real, fake, stats.skew)


def kurtosis_difference(real: np.ndarray, fake: np.ndarray) -> float:
    """Absolute difference of the mean per-time-step excess kurtosis (Fisher, normal = 0).

    Same conventions as :func:`skewness_difference`, with ``scipy.stats.kurtosis``.
    real: (N, C, L); fake: (M, C, L).
    """
    return _moment_difference(real, fake, stats.kurtosis)


def nearest_neighbour_distances(
    queries: np.ndarray, reference: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """Euclidean distance from each query series to its nearest reference series, in
    chunks of queries so that memory stays bounded on large datasets."""
    q = queries.reshape(len(queries), -1)
    r = reference.reshape(len(reference), -1)
    return np.concatenate([cdist(q[i : i + chunk], r).min(axis=1) for i in range(0, len(q), chunk)])


def memorization_scores(
    train: np.ndarray, test: np.ndarray, generated: np.ndarray
) -> tuple[float, float]:
    """How close generated series sit to the training set, measured against real unseen data.

    FID compares samples with the test split only, so a prior that reproduces its
    training series scores as well as fresh data would: on a small dataset train and
    test come from the same distribution. Real test series show how far a new series
    from the data normally lies from its nearest training series; samples that lie much
    closer are near-copies.

    Returns:
        nn_train_ratio: median distance of generated series to their nearest training
            series over the same median for real test series (1: as novel as new real
            data, below 1: closer to the training set, 0: copies).
        near_copy_rate: share of generated series closer to a training series than 95%
            of real test series are (about 0.05 for data like the real test split).
    """
    train, generated = _check_series_pair(train, generated)
    _, test = _check_series_pair(train, test)
    generated_nn = nearest_neighbour_distances(generated, train)
    test_nn = nearest_neighbour_distances(test, train)
    ratio = float(np.median(generated_nn) / max(np.median(test_nn), 1e-12))
    near_copy = float(np.mean(generated_nn < np.quantile(test_nn, 0.05)))
    return ratio, near_copy

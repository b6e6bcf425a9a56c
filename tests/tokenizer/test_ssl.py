"""Tests for the SSL losses, IterNorm, the projector and latent pooling (CPU, milliseconds).

Expected loss values are computed with plain NumPy loops written from the formulas in
SPEC section 4, independently of the torch code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl import BRANCHES, SSLLossOutput, pool_latent
from ncvqvae.tokenizer.ssl.iternorm import IterNorm
from ncvqvae.tokenizer.ssl.off_diagonal import (
    off_diagonal_square_sum,
    product_off_diagonal_square_sum,
)
from ncvqvae.tokenizer.ssl.projector import Projector, parse_projector_spec
from ncvqvae.tokenizer.ssl.redundancy import barlow_twins_loss
from ncvqvae.tokenizer.ssl.variance_covariance import vibcreg_loss, vicreg_loss

SSL_LOSSES = {"barlowtwins": barlow_twins_loss, "vicreg": vicreg_loss, "vibcreg": vibcreg_loss}

Z1 = np.array([[1.0, 2.0, 0.0], [3.0, -1.0, 2.0], [0.0, 0.0, 1.0], [2.0, 1.0, -1.0]])
Z2 = np.array([[0.5, 2.0, 1.0], [2.0, 0.0, 2.5], [-1.0, 1.0, 0.0], [2.5, 0.5, -2.0]])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _column_mean(m: np.ndarray, j: int) -> float:
    return sum(m[k, j] for k in range(m.shape[0])) / m.shape[0]


# ------------------------------------------------------------------ reference values (NumPy)


def _np_barlow(a: np.ndarray, b: np.ndarray, lam: float, eps: float = 1e-5) -> float:
    n, f = a.shape

    def standardize(m: np.ndarray) -> np.ndarray:
        out = np.zeros_like(m)
        for j in range(f):
            mu = _column_mean(m, j)
            var = sum((m[k, j] - mu) ** 2 for k in range(n)) / n  # biased
            for k in range(n):
                out[k, j] = (m[k, j] - mu) / math.sqrt(var + eps)
        return out

    an, bn = standardize(a), standardize(b)
    total = 0.0
    for i in range(f):
        for j in range(f):
            c = sum(an[k, i] * bn[k, j] for k in range(n)) / n
            total += (1 - c) ** 2 if i == j else lam * c**2
    return total / f


def _np_sim(a: np.ndarray, b: np.ndarray) -> float:
    n, f = a.shape
    return sum((a[k, j] - b[k, j]) ** 2 for k in range(n) for j in range(f)) / (n * f)


def _np_var(m: np.ndarray, eps: float = 1e-4) -> float:
    n, f = m.shape
    total = 0.0
    for j in range(f):
        mu = _column_mean(m, j)
        var = sum((m[k, j] - mu) ** 2 for k in range(n)) / (n - 1)  # unbiased
        total += max(0.0, 1 - math.sqrt(var + eps))
    return total / f


def _np_cov(m: np.ndarray) -> float:
    n, f = m.shape
    total = 0.0
    for i in range(f):
        for j in range(f):
            if i != j:
                mi, mj = _column_mean(m, i), _column_mean(m, j)
                cov = sum((m[k, i] - mi) * (m[k, j] - mj) for k in range(n)) / (n - 1)
                total += cov**2
    return total / f


def _np_normalized_cov(m: np.ndarray) -> float:
    n, f = m.shape
    unit = np.zeros_like(m)
    for j in range(f):
        mu = _column_mean(m, j)
        norm = math.sqrt(sum((m[k, j] - mu) ** 2 for k in range(n)))
        for k in range(n):
            unit[k, j] = (m[k, j] - mu) / norm
    total = 0.0
    for i in range(f):
        for j in range(f):
            if i != j:
                total += sum(unit[k, i] * unit[k, j] for k in range(n)) ** 2
    return total / f**2


# ------------------------------------------------------------------ hand-computed values


def test_barlow_twins_matches_hand_computed() -> None:
    out = barlow_twins_loss(torch.tensor(Z1), torch.tensor(Z2), lambda_offdiag=0.005)
    assert out.loss.item() == pytest.approx(_np_barlow(Z1, Z2, 0.005), rel=1e-10)
    # Terms are unweighted; the total re-assembles from them.
    total = out.terms["on_diag"] + 0.005 * out.terms["off_diag"]
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-12)


def test_barlow_twins_lambda_weights_only_off_diagonal() -> None:
    a, b = torch.tensor(Z1), torch.tensor(Z2)
    for lam in (0.0, 0.005, 1.0):
        assert barlow_twins_loss(a, b, lambda_offdiag=lam).loss.item() == pytest.approx(
            _np_barlow(Z1, Z2, lam), rel=1e-10
        )


def test_vicreg_matches_hand_computed() -> None:
    out = vicreg_loss(torch.tensor(Z1), torch.tensor(Z2))
    sim, var = _np_sim(Z1, Z2), _np_var(Z1) + _np_var(Z2)
    cov = _np_cov(Z1) + _np_cov(Z2)
    assert out.terms["sim"].item() == pytest.approx(sim, rel=1e-10)
    assert out.terms["var"].item() == pytest.approx(var, rel=1e-10, abs=1e-12)
    assert out.terms["cov"].item() == pytest.approx(cov, rel=1e-10)
    assert out.loss.item() == pytest.approx(25 * sim + 25 * var + 1 * cov, rel=1e-10)


def test_vicreg_variance_term_is_active_on_small_columns() -> None:
    # Z1 / 10 has every column std < 1, so the hinge is non-zero and must match too.
    a, b = Z1 / 10, Z2 / 10
    out = vicreg_loss(torch.tensor(a), torch.tensor(b))
    assert out.terms["var"].item() > 0
    assert out.terms["var"].item() == pytest.approx(_np_var(a) + _np_var(b), rel=1e-10)


def test_vibcreg_matches_hand_computed() -> None:
    a, b = Z1 / 4, Z2 / 4  # small enough that the variance hinge is active as well
    out = vibcreg_loss(torch.tensor(a), torch.tensor(b))
    sim, var = _np_sim(a, b), _np_var(a) + _np_var(b)
    cov = _np_normalized_cov(a) + _np_normalized_cov(b)
    assert var > 0
    assert out.terms["sim"].item() == pytest.approx(sim, rel=1e-10)
    assert out.terms["var"].item() == pytest.approx(var, rel=1e-10)
    assert out.terms["cov"].item() == pytest.approx(cov, rel=1e-10)
    assert out.loss.item() == pytest.approx(25 * sim + 25 * var + 100 * cov, rel=1e-10)


# ------------------------------------------------------------------ properties


def _decorrelated(batch: int, features: int, seed: int) -> torch.Tensor:
    """(B, F) with zero-mean, exactly uncorrelated columns, each of biased std 2."""
    m = torch.randn(batch, features, generator=_gen(seed), dtype=torch.float64)
    q, _ = torch.linalg.qr(m - m.mean(dim=0))
    return 2 * math.sqrt(batch) * q


def test_barlow_twins_is_zero_for_identical_decorrelated_embeddings() -> None:
    z = _decorrelated(32, 8, seed=0)
    # Any per-column scale and shift is undone by the standardization.
    scaled = z * torch.arange(1, 9, dtype=torch.float64) + 5
    assert barlow_twins_loss(z, scaled).loss.item() < 1e-8


def test_barlow_twins_is_positive_otherwise() -> None:
    a = torch.randn(32, 8, generator=_gen(0))
    b = torch.randn(32, 8, generator=_gen(1))
    assert barlow_twins_loss(a, b).loss.item() > 0.1
    # Identical but correlated features: the diagonal is 1, the off-diagonal is not 0.
    c = a @ torch.randn(8, 8, generator=_gen(2))
    out = barlow_twins_loss(c, c)
    assert out.terms["on_diag"].item() < 1e-6
    assert out.terms["off_diag"].item() > 0.01


def test_vicreg_variance_term_is_exactly_zero_when_std_at_least_one() -> None:
    z = _decorrelated(16, 4, seed=0)  # every column has std 2 > 1
    out = vicreg_loss(z, z + 0.1)
    assert out.terms["var"].item() == 0.0
    assert out.terms["cov"].item() < 1e-20
    assert out.terms["sim"].item() == pytest.approx(0.01)


@pytest.mark.parametrize("name", sorted(SSL_LOSSES))
@pytest.mark.parametrize("case", ["random", "identical", "constant_column"])
def test_losses_have_finite_gradients(name: str, case: str) -> None:
    a = torch.randn(16, 8, generator=_gen(0))
    b = torch.randn(16, 8, generator=_gen(1))
    if case == "identical":
        b = a.clone()
    elif case == "constant_column":
        a[:, 0] = 1.0
        b[:, 0] = 1.0
    a.requires_grad_(True)
    b.requires_grad_(True)
    out = SSL_LOSSES[name](a, b)
    assert isinstance(out, SSLLossOutput)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    for grad in (a.grad, b.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_registry_and_default_weights() -> None:
    assert set(BRANCHES) == {"barlowtwins", "vicreg", "vibcreg", "byol", "simsiam", "swav", "dino", "data2vec"}
    weights = {m: SSLConfig(method=m).method_weight for m in ("barlowtwins", "vicreg", "vibcreg")}
    assert weights == {"barlowtwins": 1.0, "vicreg": 0.01, "vibcreg": 0.01}
    assert SSLConfig(method="vicreg", weight=0.5).method_weight == 0.5


def test_off_diagonal_square_sum_and_its_gradient_leave_the_diagonal_out() -> None:
    m = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    mask = ~torch.eye(6, dtype=torch.bool)
    expected = m[mask].pow(2).sum()
    total = off_diagonal_square_sum(m)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    total.backward()
    assert torch.equal(m.grad.diagonal(), torch.zeros(6, dtype=torch.float64))
    assert torch.allclose(m.grad[mask], 2 * m.detach()[mask])


@pytest.mark.parametrize(("batch", "features"), [(4, 16), (12, 16)])
@pytest.mark.parametrize("same", [False, True])
def test_product_off_diagonal_square_sum_matches_the_formed_product(batch: int, features: int, same: bool) -> None:
    """Both routes (Gram matrices when B < F/2, the (F, F) product otherwise) give the
    masked sum of squares of a^T b, and the same gradients."""
    gen = torch.Generator().manual_seed(batch)
    a = torch.randn(batch, features, dtype=torch.float64, generator=gen, requires_grad=True)
    b = a if same else torch.randn(batch, features, dtype=torch.float64, generator=gen, requires_grad=True)
    mask = ~torch.eye(features, dtype=torch.bool)
    expected = (a.T @ b)[mask].square().sum()
    expected_grads = torch.autograd.grad(expected, (a, b) if not same else (a,))
    total = product_off_diagonal_square_sum(a, b)
    grads = torch.autograd.grad(total, (a, b) if not same else (a,))
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)


def test_gram_route_keeps_float32_losses_close_to_float64() -> None:
    """At the paper's shape ratio (B = F / 32) the float32 losses, through Gram matrices,
    stay within rounding of the float64 ones: no cancellation in the whole-less-diagonal
    difference (C has rank < B, so its off-diagonal part dominates its square sum)."""
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 16, 512, generator=gen)
    for loss in (barlow_twins_loss, vicreg_loss, vibcreg_loss):
        single, double = loss(z1, z2).loss.item(), loss(z1.double(), z2.double()).loss.item()
        assert single == pytest.approx(double, rel=1e-5)


def test_losses_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, F\)"):
        barlow_twins_loss(torch.zeros(4, 3), torch.zeros(4, 2))


# ------------------------------------------------------------------ pooling and projector


def test_pool_latent_shape_and_values() -> None:
    z = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    pooled = pool_latent(z)
    assert pooled.shape == (2, 6)
    # Channel c of sample b holds 8 consecutive integers starting at 8 (3 b + c).
    start = 8 * torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(pooled[:, :3], start + 3.5)
    assert torch.equal(pooled[:, 3:], start + 7)


def test_projector_builds_from_spec() -> None:
    proj = Projector(10, "32-16-8")
    assert proj.out_dim == 8
    kinds = [type(m) for m in proj]
    assert kinds == [
        nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear
    ]
    assert [m.out_features for m in proj if isinstance(m, nn.Linear)] == [32, 16, 8]
    assert proj(torch.randn(5, 10, generator=_gen(0))).shape == (5, 8)


def test_projector_single_layer_and_iternorm() -> None:
    single = Projector(6, "4")
    assert [type(m) for m in single] == [nn.Linear] and single.out_dim == 4
    whitened = Projector(6, "16-16", iternorm=True, iternorm_group_size=8)
    assert isinstance(whitened[-1], IterNorm) and whitened.out_dim == 16
    x = torch.randn(32, 6, generator=_gen(0))
    assert whitened(x).shape == (32, 16)
    assert whitened.eval()(x).shape == (32, 16)


@pytest.mark.parametrize("spec", ["", "64-", "64-abc", "0-8", "-8"])
def test_projector_rejects_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="projector spec"):
        parse_projector_spec(spec)


# ------------------------------------------------------------------ IterNorm


def _correlated(batch: int = 512, features: int = 16, seed: int = 0) -> torch.Tensor:
    g = _gen(seed)
    mixing = torch.eye(features) + 0.3 * torch.randn(features, features, generator=g)
    return 3.0 + torch.randn(batch, features, generator=g) @ mixing


def _group_covariances(y: torch.Tensor, group_size: int) -> torch.Tensor:
    """(G, g, g) biased covariance of each group of columns."""
    yc = y - y.mean(dim=0)
    groups = yc.T.reshape(-1, group_size, y.shape[0])
    return groups @ groups.transpose(1, 2) / y.shape[0]


def test_iternorm_whitens_each_group_in_training_mode() -> None:
    x = _correlated()
    norm = IterNorm(16, group_size=8, T=10).train()
    cov = _group_covariances(norm(x), 8)
    assert torch.allclose(cov, torch.eye(8).expand_as(cov), atol=1e-3)
    # The input was far from white.
    assert not torch.allclose(_group_covariances(x, 8), torch.eye(8), atol=0.3)


def test_iternorm_default_T_partially_whitens() -> None:
    x = _correlated()
    cov_in = _group_covariances(x, 16)[0]
    cov_out = _group_covariances(IterNorm(16, group_size=16).train()(x), 16)[0]
    off = ~torch.eye(16, dtype=torch.bool)
    assert cov_out[off].abs().max() < 0.5 * cov_in[off].abs().max()
    eig_in, eig_out = torch.linalg.eigvalsh(cov_in), torch.linalg.eigvalsh(cov_out)
    assert eig_out[-1] / eig_out[0] < 0.1 * eig_in[-1] / eig_in[0]


def test_iternorm_eval_uses_running_statistics() -> None:
    x = _correlated()
    norm = IterNorm(16, group_size=8, momentum=1.0)
    y_train = norm.train()(x)
    y_eval = norm.eval()(x)
    assert torch.allclose(y_eval, y_train, atol=1e-5)
    # Eval is a fixed affine map: a single sample works and does not touch the buffers.
    before = norm.running_wm.clone()
    assert norm(x[:1]).shape == (1, 16)
    assert torch.equal(norm.running_wm, before)


def test_iternorm_gradient_and_group_checks() -> None:
    x = _correlated(batch=64).requires_grad_(True)
    IterNorm(16, group_size=4).train()(x).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert IterNorm(8, group_size=64).num_groups == 1
    with pytest.raises(ValueError, match="multiple of group_size"):
        IterNorm(24, group_size=16)

"""The CPU RMSNorm computes what torch's does, forward and backward, and loads its weights."""

from __future__ import annotations

import torch
from torch import nn

from ncvqvae.prior.rms_norm import RMSNorm


def _pair(dim: int) -> tuple[nn.RMSNorm, RMSNorm]:
    reference, ours = nn.RMSNorm(dim), RMSNorm(dim)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(0))
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def test_forward_and_gradients_match_torch() -> None:
    reference, ours = _pair(48)
    gen = torch.Generator().manual_seed(1)
    x = (3 * torch.randn(5, 7, 48, generator=gen)).requires_grad_()
    upstream = torch.randn(5, 7, 48, generator=gen)
    expected = torch.autograd.grad((reference(x) * upstream).sum(), [x, reference.weight])
    got = torch.autograd.grad((ours(x) * upstream).sum(), [x, ours.weight])
    torch.testing.assert_close(ours(x), reference(x))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x.detach()), reference(x.detach()))


def test_double_precision_gradcheck() -> None:
    norm = RMSNorm(6).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(norm, (x,))

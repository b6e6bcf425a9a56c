"""The fused AdamW the stages train with is AdamW: the same updates as torch's default."""

from __future__ import annotations

import torch
from torch import nn

from ncvqvae.training.optim import build_adamw


def test_fused_adamw_takes_the_same_steps_as_the_default_loop() -> None:
    torch.manual_seed(0)
    fused_model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    loop_model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    loop_model.load_state_dict(fused_model.state_dict())
    fused = build_adamw(fused_model, lr=1e-2, weight_decay=0.1)
    loop = torch.optim.AdamW(loop_model.parameters(), lr=1e-2, weight_decay=0.1, foreach=False)
    assert fused.defaults["fused"]
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        for model, optimizer in ((fused_model, fused), (loop_model, loop)):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

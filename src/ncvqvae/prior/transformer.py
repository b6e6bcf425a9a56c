"""The bidirectional transformer of the MaskGIT prior: pre-norm blocks of self-attention
and a feed-forward layer, written out so that the attention width (heads x head_dim)
can differ from the model width and the norm can be RMSNorm, as in the method authors'
x-transformers prior (2 heads of 64 on a 256-wide model, feed-forward multiplier 1).

Attention runs through ``F.scaled_dot_product_attention``, which picks the fastest kernel
the device has. With head_dim = width / heads and LayerNorm, a block computes exactly what
``nn.TransformerEncoderLayer(norm_first=True, activation="gelu")`` does, and loads its
weights (:func:`upgrade_state_dict` renames the two keys that differ).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.prior.rms_norm import RMSNorm


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        inner = heads * head_dim
        self.in_proj = nn.Linear(dim, 3 * inner)
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, n, _ = x.shape
        q, k, v = self.in_proj(x).view(batch, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, n, self.heads * self.head_dim))


def attention(q: Tensor, k: Tensor, v: Tensor, dropout_p: float) -> Tensor:
    """Scaled dot-product attention; in float32 on CPUs when autocast hands it bf16 or fp16.

    On CPUs the half-precision flash-attention kernel's backward ran about 6x slower than
    the float32 one (torch 2.13, an AMX machine: 34 of the 80 ms of a cpu-preset prior step
    under bf16, against 5.5 ms in float32), which cancelled what the bf16 matrix products
    gain; the float32 kernel costs the same either way and is exact."""
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), dropout_p=dropout_p).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


class Block(nn.Module):
    """x + Attn(Norm(x)), then x + FF(Norm(x)), FF = Linear -> GELU -> Linear."""

    def __init__(self, dim: int, heads: int, head_dim: int, ffn_mult: int, dropout: float, norm: str) -> None:
        super().__init__()
        make_norm = (lambda: RMSNorm(dim)) if norm == "rmsnorm" else (lambda: nn.LayerNorm(dim))
        self.norm1, self.norm2 = make_norm(), make_norm()
        self.self_attn = SelfAttention(dim, heads, head_dim, dropout)
        self.linear1 = nn.Linear(dim, ffn_mult * dim)
        self.linear2 = nn.Linear(ffn_mult * dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.dropout(self.self_attn(self.norm1(x)))
        return x + self.dropout(self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x))))))


class Transformer(nn.Module):
    def __init__(self, dim: int, n_layers: int, heads: int, head_dim: int, ffn_mult: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(dim, heads, head_dim, ffn_mult, dropout, norm) for _ in range(n_layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def upgrade_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Priors saved with ``nn.TransformerEncoder`` (before this module): its fused
    attention input weights were ``in_proj_weight`` / ``in_proj_bias``."""
    renamed = {}
    for key, value in state.items():
        key = key.replace("self_attn.in_proj_weight", "self_attn.in_proj.weight")
        key = key.replace("self_attn.in_proj_bias", "self_attn.in_proj.bias")
        renamed[key] = value
    return renamed


def count_flops_per_token(dim: int, n_layers: int, heads: int, head_dim: int, ffn_mult: int, n: int) -> int:
    """Multiply-adds x 2 of one forward pass, per token, for a sequence of n tokens."""
    inner = heads * head_dim
    per_layer = 2 * (dim * 3 * inner + inner * dim + 2 * dim * ffn_mult * dim) + 2 * 2 * n * inner
    return n_layers * per_layer


__all__ = ["Block", "SelfAttention", "Transformer", "count_flops_per_token", "upgrade_state_dict", "torch"]

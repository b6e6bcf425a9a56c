"""Mixed precision outside Lightning: the autocast context of a precision setting, for
the work no Trainer runs (drawing samples from a trained prior), and the upcast of the
computations that must stay in at least float32 under any autocast.

Lightning wraps every training step in autocast when ``trainer.precision`` is
``bf16-mixed`` or ``16-mixed``; sampling runs outside any Trainer, so without this the
prior would be trained in one precision and sampled in another, and on CPUs with bf16
matrix units (AMX) sampling would stay at the float32 speed.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

MIXED_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def mixed_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """autocast to the precision's half type on ``device``, or nothing for full precision."""
    dtype = MIXED_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def at_least_float32(t: Tensor) -> Tensor:
    """bf16 and fp16 tensors as float32; float32 and float64 ones as they are (the tests
    compare the losses with float64 references)."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t

"""The autocast context of a Lightning precision setting, for the work Lightning does not
run: drawing samples from a trained prior.

Lightning wraps every training step in autocast when ``trainer.precision`` is
``bf16-mixed`` or ``16-mixed``; sampling runs outside any Trainer, so without this the
prior would be trained in one precision and sampled in another, and on CPUs with bf16
matrix units (AMX) sampling would stay at the float32 speed.
"""

from __future__ import annotations

import contextlib

import torch

MIXED_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def mixed_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """autocast to the precision's half type on ``device``, or nothing for full precision."""
    dtype = MIXED_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)

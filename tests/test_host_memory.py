"""Freed memory kept for reuse: a training step's repeated tensors stop faulting in fresh pages."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Twelve optimizer steps of a small MLP on a batch whose activations are 8 MiB each (under
# glibc's defaults, mostly fresh mmaps every step); prints the minor page faults of the
# last six, once the allocator has seen every size the step uses.
STEPS = """
import resource, sys, torch
from ncvqvae.host_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.LayerNorm(1024),
                          torch.nn.Linear(1024, 256))
optimizer = torch.optim.AdamW(net.parameters())
x = torch.randn(2048, 256)
for step in range(12):
    if step == 6:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net(x).square().mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setting: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", STEPS, setting], capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_memory_stops_the_page_faults_of_repeated_steps():
    _, default_faults = _faults("default")
    kept, kept_faults = _faults("keep")
    assert kept == "True"
    assert default_faults > 10_000  # 8 MiB tensors are 2048 pages each, faulted in again
    assert kept_faults < default_faults / 5

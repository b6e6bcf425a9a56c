"""How the C library's allocator hands CPU memory to torch's tensors.

glibc serves every allocation above its mmap threshold (128 KiB, rising only as far as
the largest chunk freed so far) with a fresh ``mmap`` and gives it back with ``munmap``
when freed, and gives the top of its heap back to the kernel whenever more than the trim
threshold lies free there. A training step or a decoding step allocates and frees the
same activation and gradient tensors of 1 to 30 MiB over and over, so under those
defaults each one faults in thousands of fresh zeroed pages: 31,000 a MaskGIT training
step, 213,000 a sampling call of 256 series. Keeping freed memory in the heap for reuse,
as torch's own GPU allocator does and as PyTorch's CPU tuning guide gets by preloading
jemalloc or tcmalloc, removes 97% to 100% of them; sampling runs 1.18x faster for it on
2 cores, training steps as fast as before (``benchmarks/results/host_memory_cpu.md``
measures both ways side by side). A trained model (sampling, encoding, evaluation) turns it
on; training does not: there it did not pay, and the one whole ``make run`` measured with
it on for training as well ran its training stages slower.

Allocations above 32 MiB, glibc's largest mmap threshold, still go to ``mmap``: the
Barlow Twins cross-correlation and the projector's gradients are 64 MiB each (its step
keeps 85% of its faults), and keeping those in the heap too raised that step's peak RSS
by 15% in a one-off check.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import platform

log = logging.getLogger(__name__)

# mallopt's parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc refuses more (half its 64 MiB heap size)
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes an int: never trim below 2 GiB free
TOP_PAD_BYTES = 64 * 2**20  # grow the heap in 64 MiB steps: address space, not RSS


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc keep freed memory below 32 MiB a chunk for reuse instead of returning it
    to the kernel; once per process. False where the C library is not glibc (macOS,
    Windows, musl), which keeps its own allocator's behaviour."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                (M_TOP_PAD, TOP_PAD_BYTES))
    applied = all(libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in settings)
    if not applied:
        log.debug("glibc refused a mallopt setting; its defaults stay for the rest")
    return applied

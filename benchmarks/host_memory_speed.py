"""Our steps with glibc's default allocator settings against freed memory kept for reuse
(``ncvqvae.host_memory``), side by side.

    python benchmarks/host_memory_speed.py --lengths 140 500 --passes 3

``speed.py``'s workloads (paper preset, 2 threads, float32): each pass runs every row once
per setting, each in a fresh process (mallopt settings last for a process), the two
settings alternating. Beside series/s: the page faults and kernel seconds per step that
the setting is about, and peak RSS. Writes ``benchmarks/results/host_memory_cpu.md``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed import THREADS, _fresh, _ours_workload, _peak_rss_mib, matmul_gflops  # noqa: E402

SETTINGS = ("glibc defaults", "freed memory kept")
ROWS = {  # mode: (what, batch)
    "stage1_barlowtwins": ("stage-1 step, Barlow Twins, projector 4096", 128),
    "stage1_baseline": ("stage-1 step, baseline (no SSL)", 128),
    "stage2": ("MaskGIT step (tokenizing the raw batch)", 256),
    "sample_uncond": ("unconditional sampling, T = 10", 256),
}


def measure(mode: str, length: int, keep: bool) -> dict:
    """One pass of one row in this process: median step time over 10 steps after 2 (3
    after 1 for sampling), with the page faults and kernel time of the timed steps."""
    batch = ROWS[mode][1]
    step, _ = _ours_workload(mode, length, batch, 1.0, keep_memory=keep)
    warm, n = (2, 10) if mode.startswith("stage") else (1, 3)
    for _ in range(warm):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "series_per_s": batch / statistics.median(times),
        "faults_per_step": (after.ru_minflt - before.ru_minflt) / n,
        "kernel_s_per_step": (after.ru_stime - before.ru_stime) / n,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[140, 500])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "host_memory_cpu.md")
    args = parser.parse_args()
    fp32 = _fresh(matmul_gflops, "float32")
    lines = [
        "# Freed memory kept for reuse against glibc's defaults",
        "",
        f"Command: `python benchmarks/host_memory_speed.py --lengths {' '.join(map(str, args.lengths))} "
        f"--passes {args.passes}`; {THREADS} threads; 2048^3 matmul {fp32:.0f} GFLOP/s in float32. `speed.py`'s "
        "workloads in float32; each pass a fresh process per row and setting, the settings alternating; every figure "
        "is the median of the passes. Faults: minor page faults per step (each a fresh zeroed 4 KiB page); kernel s: "
        "system CPU seconds per step, both threads.",
        "",
        "| what | L | batch | series/s defaults | series/s kept | kept / defaults | faults per step defaults / kept "
        "| kernel s per step defaults / kept | peak RSS MiB defaults / kept |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for length in args.lengths:
        for mode, (what, batch) in ROWS.items():
            runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
            for _ in range(args.passes):
                for setting in SETTINGS:
                    runs[setting].append(_fresh(measure, mode, length, setting == SETTINGS[1]))
            default, kept = runs[SETTINGS[0]], runs[SETTINGS[1]]
            speed = _median(kept, "series_per_s") / _median(default, "series_per_s")
            lines.append(
                f"| {what} | {length} | {batch} | {_median(default, 'series_per_s'):.1f} | "
                f"{_median(kept, 'series_per_s'):.1f} | {speed:.2f} | "
                f"{_median(default, 'faults_per_step'):,.0f} / {_median(kept, 'faults_per_step'):,.0f} | "
                f"{_median(default, 'kernel_s_per_step'):.3f} / {_median(kept, 'kernel_s_per_step'):.3f} | "
                f"{_median(default, 'peak_rss_mib'):.0f} / {_median(kept, 'peak_rss_mib'):.0f} |"
            )
            print(lines[-1], flush=True)
            args.out.write_text("\n".join(lines) + "\n")  # each row as it lands
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

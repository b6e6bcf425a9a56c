"""The tokenizer's convolutions channels-last (as built) against contiguous, side by side.

    python benchmarks/layout_speed.py --lengths 140 500 --passes 3

A stage-1 step of ``speed.py``'s shapes (paper preset, batch 128, 2 threads), with and
without Barlow Twins, in float32 and bf16 mixed precision. Each measurement runs in a fresh
process and the two layouts alternate, so each ratio comes from one machine in one run.
Writes ``benchmarks/results/layout_speed_cpu.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed import THREADS, _fresh, _ours_workload, matmul_gflops  # noqa: E402

LAYOUTS = ("contiguous", "channels_last")
MODES = {"stage1_none": "stage-1 step, no SSL", "stage1_barlow": "stage-1 step, Barlow Twins"}


def series_per_s(mode: str, length: int, precision: str, layout: str, batch: int = 128) -> float:
    """One pass: ``speed.py``'s stage-1 step, median of 10 timed steps after 2."""
    step, _ = _ours_workload(mode, length, batch, 1.0, precision, contiguous=layout == "contiguous")
    for _ in range(2):
        step()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[140, 500])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "layout_speed_cpu.md")
    args = parser.parse_args()
    fp32, bf16 = (_fresh(matmul_gflops, dtype) for dtype in ("float32", "bfloat16"))
    lines = [
        "# Tokenizer convolutions channels-last against contiguous",
        "",
        f"Command: `python benchmarks/layout_speed.py --lengths {' '.join(map(str, args.lengths))} --passes {args.passes}`; "
        f"{THREADS} threads; 2048^3 matmul {fp32:.0f} GFLOP/s in float32, {bf16:.0f} in bfloat16. Stage-1 step of the "
        "paper preset's shapes, batch 128; each pass a fresh process, the layouts alternating; series/s are the medians "
        "of the passes (each pass the median of 10 steps after 2).",
        "",
        "| step | L | precision | contiguous series/s | channels-last series/s | channels-last / contiguous | passes contiguous | passes channels-last |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for length in args.lengths:
        for mode, what in MODES.items():
            for precision in ("32-true", "bf16-mixed"):
                runs: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
                for _ in range(args.passes):
                    for layout in LAYOUTS:
                        runs[layout].append(_fresh(series_per_s, mode, length, precision, layout))
                a, b = (statistics.median(runs[layout]) for layout in LAYOUTS)
                row = (f"| {what} | {length} | {precision} | {a:.1f} | {b:.1f} | {b / a:.2f} | "
                       f"{', '.join(f'{v:.0f}' for v in runs['contiguous'])} | "
                       f"{', '.join(f'{v:.0f}' for v in runs['channels_last'])} |")
                print(row, flush=True)
                lines.append(row)
                args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

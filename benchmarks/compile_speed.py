"""The prior's training step and sampling, eager and under ``trainer.compile``, side by side.

    python benchmarks/compile_speed.py --lengths 140 --passes 3

The workloads are ``speed.py``'s (the paper preset's shapes, L = 140: MaskGIT step with
tokenizing, unconditional sampling with decoding); each measurement runs in a fresh
process, eager and compiled alternate (A B A B ...) at each precision, and the per-row
medians are compared. Steady-state series/s leave out the first call, which is where
compiling happens: its seconds are a column of their own, because on a short run they
can eat what the faster steps save. Writes ``benchmarks/results/compile_speed_cpu.csv``
and ``.md`` row by row (``--resume`` keeps finished rows).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from precision_speed import start  # noqa: E402
from speed import ROWS, _fresh, _write_csv, ours  # noqa: E402

PRECISIONS = ("32-true", "bf16-mixed")
PRIOR_MODES = ("stage2", "sample_uncond")


def measure(what: str, mode: str, length: int, batch: int, precision: str, passes: int) -> dict:
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(passes):
        for compiled in (False, True):
            runs[compiled].append(_fresh(ours, mode, length, batch, 1.0, precision, compiled))
    eager, compiled = ({k: statistics.median(r[k] for r in runs[c]) for k in runs[c][0]} for c in (False, True))
    return {
        "what": what, "L": length, "batch": batch, "precision": precision,
        "eager_series_s": round(eager["series_per_s"], 1),
        "compiled_series_s": round(compiled["series_per_s"], 1),
        "compiled_over_eager": round(compiled["series_per_s"] / eager["series_per_s"], 2),
        "compile_s": round(compiled["first_call_s"] - batch / compiled["series_per_s"], 1),
        "eager_rss_mib": round(eager["peak_rss_mib"]), "compiled_rss_mib": round(compiled["peak_rss_mib"]),
        "passes_eager": [round(r["series_per_s"], 1) for r in runs[False]],
        "passes_compiled": [round(r["series_per_s"], 1) for r in runs[True]],
    }


def write_markdown(path: Path, rows: list[dict], gflops: dict[str, float], command: str) -> None:
    lines = [
        "# The prior eager and under `trainer.compile`, side by side",
        "",
        f"Command: `{command}`; 2 threads; 2048^3 matmul {gflops['float32']:.0f} GFLOP/s in float32, "
        f"{gflops['bfloat16']:.0f} GFLOP/s in bfloat16. Eager and compiled alternate, fresh process each, "
        "per-row medians of the passes; workloads as in `speed.py`. Compile s: the first call's seconds "
        "less one steady call (one shape; each new batch shape compiles again, then once more dynamically), "
        "median over passes, so with torch's on-disk compile cache warm from the row's first pass (a cold "
        "compile of the MaskGIT step took 13 s in float32 and 27 s in bf16 in a one-off check outside this "
        "script).",
        "",
        "| what | L | batch | precision | eager series/s | compiled series/s | compiled / eager | compile s | RSS MiB eager / compiled |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r['what']} | {r['L']} | {r['batch']} | {r['precision']} | {r['eager_series_s']} | "
              f"{r['compiled_series_s']} | {r['compiled_over_eager']} | {r['compile_s']} | "
              f"{r['eager_rss_mib']} / {r['compiled_rss_mib']} |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    args, gflops, rows, csv_path = start(__doc__, "compile_speed_cpu.csv")
    done = {(r["what"], int(r["L"]), r["precision"]) for r in rows}
    command = "python benchmarks/compile_speed.py " + " ".join(sys.argv[1:])
    for length in args.lengths:
        for what, mode, _, batch, _ in ROWS:
            for precision in PRECISIONS:
                if mode not in PRIOR_MODES or (what, length, precision) in done:
                    continue
                rows.append(measure(what, mode, length, batch, precision, args.passes))
                print(json.dumps(rows[-1]), flush=True)
                _write_csv(csv_path, rows)
                write_markdown(args.out / "compile_speed_cpu.md", rows, gflops, command)


if __name__ == "__main__":
    main()

"""Our training and sampling steps in float32 and in bf16 mixed precision, side by side.

    python benchmarks/precision_speed.py --lengths 140 --passes 3

The workloads are ``speed.py``'s (the paper preset's shapes); each measurement runs in a
fresh process and the two precisions alternate (A B A B ...), so the ratio bf16 / fp32 is
measured on one machine in one run. bf16 pays only on CPUs with bf16 matrix units (AMX): the header prints both matmul throughputs, so a reader can tell which kind
of machine a table comes from. Writes ``benchmarks/results/precision_speed_cpu.csv`` and
``.md`` row by row (``--resume`` keeps finished rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed import ROWS, _fresh, _write_csv, matmul_gflops, ours  # noqa: E402

PRECISIONS = ("32-true", "bf16-mixed")


def measure(what: str, mode: str, length: int, batch: int, passes: int) -> dict:
    guidance = 2.0 if "w = 2" in what else 1.0
    runs: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    for _ in range(passes):
        for precision in PRECISIONS:
            runs[precision].append(_fresh(ours, mode, length, batch, guidance, precision))
    fp32, bf16 = ({k: statistics.median(r[k] for r in runs[p]) for k in runs[p][0]} for p in PRECISIONS)
    return {
        "what": what, "L": length, "batch": batch,
        "fp32_series_s": round(fp32["series_per_s"], 1),
        "bf16_series_s": round(bf16["series_per_s"], 1),
        "bf16_over_fp32": round(bf16["series_per_s"] / fp32["series_per_s"], 2),
        "fp32_rss_mib": round(fp32["peak_rss_mib"]), "bf16_rss_mib": round(bf16["peak_rss_mib"]),
        "passes_fp32": [round(r["series_per_s"], 1) for r in runs["32-true"]],
        "passes_bf16": [round(r["series_per_s"], 1) for r in runs["bf16-mixed"]],
    }


def write_markdown(path: Path, rows: list[dict], gflops: dict[str, float], command: str, kept: int = 0) -> None:
    lines = [
        "# Our steps in float32 and in bf16 mixed precision, side by side",
        "",
        f"Command: `{command}`; 2 threads; 2048^3 matmul {gflops['float32']:.0f} GFLOP/s in float32, "
        f"{gflops['bfloat16']:.0f} GFLOP/s in bfloat16. The two precisions alternate, fresh process each, "
        "per-row medians of the passes. Workloads as in `speed.py` (paper preset shapes)."
        + (f" The first {kept} rows were kept from an earlier run of the command (--resume); the matmul "
           "figures are this run's." if kept else ""),
        "",
        "| what | L | batch | fp32 series/s | bf16-mixed series/s | bf16 / fp32 | RSS MiB fp32 / bf16 |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r['what']} | {r['L']} | {r['batch']} | {r['fp32_series_s']} | {r['bf16_series_s']} | "
              f"{r['bf16_over_fp32']} | {r['fp32_rss_mib']} / {r['bf16_rss_mib']} |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def start(doc: str, csv_name: str) -> tuple[argparse.Namespace, dict[str, float], list[dict], Path]:
    """What an ours-beside-ours benchmark begins with: its arguments, both matmul
    throughputs (printed, so a reader can tell the machine), and the rows a stopped run
    left when ``--resume`` is given."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[140])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    gflops = {dtype: _fresh(matmul_gflops, dtype) for dtype in ("float32", "bfloat16")}
    print(f"2048^3 matmul: {gflops['float32']:.0f} GFLOP/s float32, {gflops['bfloat16']:.0f} bfloat16", flush=True)
    csv_path = args.out / csv_name
    rows: list[dict] = []
    if args.resume and csv_path.is_file():
        with csv_path.open() as f:
            rows = list(csv.DictReader(f))
    return args, gflops, rows, csv_path


def main() -> None:
    args, gflops, rows, csv_path = start(__doc__, "precision_speed_cpu.csv")
    done = {(r["what"], int(r["L"])) for r in rows}
    kept = len(rows)
    command = "python benchmarks/precision_speed.py " + " ".join(sys.argv[1:])
    for length in args.lengths:
        for what, mode, _, batch, _ in ROWS:
            if (what, length) in done:
                continue
            rows.append(measure(what, mode, length, batch, args.passes))
            print(json.dumps(rows[-1]), flush=True)
            _write_csv(csv_path, rows)
            write_markdown(args.out / "precision_speed_cpu.md", rows, gflops, command, kept)


if __name__ == "__main__":
    main()

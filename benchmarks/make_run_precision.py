"""`make run` (GunPoint, Barlow Twins, cpu preset) in float32 and in bf16 mixed precision,
over seeds, side by side on this machine: time per stage, and whether quality holds.

    python benchmarks/make_run_precision.py --seeds 0 1 2

For each seed the two precisions run one after the other (``--precision 32-true`` and
``--precision bf16-mixed``), each with an empty evaluator cache as on a fresh clone. The
evaluation itself (the evaluator FCN, FID features, CAS) is float32 on both sides: only
the model's training and sampling change precision. Results accumulate in
``benchmarks/results/make_run_precision_GunPoint.json`` (a later call skips what is
there) and are summarised in ``make_run_precision_GunPoint.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_run_before_after import QUALITY, STAGES, _stats, figures, timed_run  # noqa: E402

RESULTS = HERE / "results" / "make_run_precision_GunPoint.json"
SIDES = ("32-true", "bf16-mixed")
LOWER_BETTER = {"fid_ratio", "rocket_fid_ratio", "near_copy_rate"}


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    amx = "amx_bf16" in out
    return f"{names[0] if names else 'unknown CPU'}, {'with' if amx else 'without'} AMX bf16"


def write_summary(record: dict) -> None:
    sides = {side: [v for k, v in record.items() if k.startswith(side + "/")] for side in SIDES}
    seeds = sorted({k.split("/seed")[1] for k in record if "/seed" in k}, key=int)
    lines = [
        "# `make run` on GunPoint in float32 and in bf16 mixed precision",
        "",
        f"Command: `python benchmarks/make_run_precision.py --seeds {' '.join(seeds)}`. Each run: `ncvqvae run --dataset "
        "GunPoint --ssl barlowtwins --preset cpu --seed k --precision P`, an empty evaluator cache, the two "
        f"precisions one after the other on one 2-core machine ({record.get('machine', 'unknown CPU')}); "
        "wall-clock includes start-up, not the install. The evaluation is float32 on both sides.",
        "",
        "| | 32-true | bf16-mixed | bf16 / fp32 |",
        "|---|---:|---:|---:|",
    ]
    for key in ("wall_s", *STAGES):
        f, b = ([v[key] for v in sides[s] if v.get(key)] for s in SIDES)
        if f and b:
            (mf, sf), (mb, sb) = _stats(f), _stats(b)
            lines.append(f"| {key} | {mf:.0f} ± {sf:.0f} | {mb:.0f} ± {sb:.0f} | {mb / mf:.2f} |")
    lines += ["", "| quality (mean ± std over seeds) | 32-true | bf16-mixed | no worse? |", "|---|---:|---:|---|"]
    for key in QUALITY:
        f, b = ([v[key] for v in sides[s]] for s in SIDES)
        if not f or not b:
            continue
        (mf, sf), (mb, sb) = _stats(f), _stats(b)
        ok = mb <= mf + sf if key in LOWER_BETTER else mb >= mf - sf
        verdict = ("yes" if ok else "no") if min(len(f), len(b)) > 1 else "one seed: no verdict"
        lines.append(f"| {key} ({'lower' if key in LOWER_BETTER else 'higher'} is better) | {mf:.3f} ± {sf:.3f} | "
                     f"{mb:.3f} ± {sb:.3f} | {verdict} |")
    one_seed = min(len(v) for v in sides.values()) < 2
    lines += ["", f"Seeds: 32-true {len(sides['32-true'])}, bf16-mixed {len(sides['bf16-mixed'])}"
              + (" (± nan: one seed, no spread)" if one_seed else "")
              + ". 'No worse': the bf16 mean lies within one fp32 std of the fp32 mean, or better."]
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, default=Path("runs/make_run_precision"))
    args = parser.parse_args()
    record = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    record.setdefault("machine", _cpu_model())
    for seed in args.seeds:
        for precision in SIDES:
            key = f"{precision}/seed{seed}"
            if key in record:
                continue
            out = args.runs / precision / f"seed{seed}"
            entry, _ = timed_run(None, seed, out, ("--precision", precision))
            record[key] = {**entry, **figures(out)}
            RESULTS.write_text(json.dumps(record, indent=2))  # entry by entry: a stopped run keeps what it has
            print(key, json.dumps(record[key]), flush=True)
    write_summary(record)


if __name__ == "__main__":
    main()

"""Training and sampling throughput (series/s), FLOPs, parameters and peak memory, ours
beside the method authors' code, measured side by side on this machine.

    REF_DIR=/path/to/their/commit REF_PYTHON=/path/to/their/venv/bin/python \\
        python benchmarks/speed.py --lengths 140 500 --passes 3

Every measurement runs in a fresh process; ours and theirs alternate (A B A B ...) for
``--passes`` passes at the same shapes and the per-pass medians are compared, because a
machine's speed drifts by up to 25% within minutes and two machines of the same kind
differ by up to 2.6x (``../shared/reference/HOW-MEASURED.md``). Their code runs through
``benchmarks/reference_side.py`` (it is never copied here). Without ``REF_DIR`` the
reference columns come from ``../shared/reference/reference_speed_cpu.csv``, measured on
another machine, and the output says so: those ratios do not compare like with like.

Beside every row: parameters and GFLOPs per series of both codes (torch's
FlopCounterMode), and the roofline, the series/s this machine's measured fp32 matmul
throughput would allow at our FLOPs, with the share of it we reach. Writes
``benchmarks/results/speed_cpu.csv`` and ``.md`` (with the top rows of torch.profiler
profiles of our stage-1 step and of unconditional sampling).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parents[1] / "shared" / "reference" / "reference_speed_cpu.csv"
THREADS = 2

# Not like for like, so it has no target: our training tokenizes the training split once
# and feeds the prior token batches, theirs runs the frozen encoder on every raw batch. The
# row says what a step of each code's own training costs; the row above compares the work.
STEP_AS_TRAINED = "MaskGIT step as each code trains (ours: tokens computed once; theirs: as above)"
# (our row, its mode in reference_side.py, the row name in reference_speed_cpu.csv, batch,
#  the target ratio ours / theirs in series/s, None where the row is for information)
ROWS = [
    ("stage-1 step, Barlow Twins, projector 4096", "stage1_barlowtwins", "ncvqvae_stage1_step_barlowtwins_proj4096", 128, 1.5),
    ("stage-1 step, baseline (no SSL)", "stage1_baseline", "baseline_stage1_step", 128, 1.3),
    ("MaskGIT step (tokenizing the raw batch)", "stage2", "maskgit_train_step", 256, 1.5),
    (STEP_AS_TRAINED, "stage2_tokens", "maskgit_train_step", 256, None),
    ("unconditional sampling, T = 10", "sample_uncond", "sampling_unconditional_T10", 256, 1.5),
    ("class-conditional sampling, T = 10, w = 1", "sample_cond", "sampling_class_conditional_T10_w1", 256, 3.0),
    ("guided sampling, T = 10, w = 2 (theirs: w = 1)", "sample_cond", "", 256, 1.5),
]
RSS_TARGET = 0.7  # stage-1 peak RSS, ours / theirs, at most


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(dtype: str = "float32") -> float:
    """Throughput of a 2048^3 matmul in ``dtype``, best of five: the roofline's ceiling."""
    import torch

    torch.set_num_threads(THREADS)
    a, b = (torch.randn(2048, 2048, dtype=getattr(torch, dtype)) for _ in range(2))
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _seconds(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _flops(fn) -> float:  # noqa: ANN001
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def _paper():  # noqa: ANN202
    from ncvqvae.config import preset

    return preset("paper")


def _ours_workload(mode: str, length: int, batch: int, guidance: float, precision: str = "32-true",  # noqa: ANN202
                   compiled: bool = False, contiguous: bool = False, keep_memory: bool | None = None):
    """(the function one timed step runs, parameters it trains or uses). With
    ``precision`` bf16-mixed the forward passes and the prior's decoding run under autocast
    as a run's Trainer and sampler would run them (backward follows the forward's types);
    with ``compiled`` the prior's transformer is compiled as ``trainer.compile`` does; with
    ``contiguous`` stage 1's convolutions are turned back from the channels-last layout
    they are built in (``layout_speed.py`` times the two). ``keep_memory`` has glibc keep
    freed memory for reuse (``ncvqvae.host_memory``; ``host_memory_speed.py`` times the
    two); None, as a run does: for sampling (a TrainedModel's work), not for training."""
    import torch

    from ncvqvae.data.augment import build_augmentation
    from ncvqvae.host_memory import keep_freed_memory
    from ncvqvae.model.trained import tokenize_series
    from ncvqvae.precision import mixed_precision
    from ncvqvae.prior.build import build_prior, compile_transformers
    from ncvqvae.prior.sampling import sample_tokens
    from ncvqvae.tokenizer.objective import StageOneObjective, build_tokenizer
    from ncvqvae.training.optim import build_adamw

    torch.set_num_threads(THREADS)
    if keep_memory or (keep_memory is None and mode.startswith("sample")):
        keep_freed_memory()
    torch.manual_seed(0)
    paper = _paper()
    x = torch.randn(batch, 1, length, generator=torch.Generator().manual_seed(0))
    if mode.startswith("stage1"):
        ssl = paper.ssl.__class__(method="barlowtwins" if "barlow" in mode else "none")
        model = StageOneObjective(paper.tokenizer, ssl, in_channels=1, length=length)
        if contiguous:
            model.to(memory_format=torch.contiguous_format)
        optimizer = build_adamw(model, lr=1e-3)  # what training uses
        augment = build_augmentation("warp")
        gen = torch.Generator().manual_seed(0)

        def step() -> None:
            x_aug = augment(x, gen) if model.uses_augmented_view else None
            with mixed_precision(precision, x.device):
                loss = model(x, x_aug).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)  # as training does (ReleasesGradientsAfterStep)

        return step, sum(p.numel() for p in model.parameters() if p.requires_grad)
    tokenizer = build_tokenizer(paper.tokenizer, in_channels=1, length=length).eval()
    prior = build_prior(paper.prior, tokenizer, n_classes=5)
    if compiled:
        compile_transformers(prior)
    params = sum(p.numel() for p in prior.parameters())
    if mode in ("stage2", "stage2_tokens"):
        optimizer = build_adamw(prior, lr=1e-3)
        labels = torch.randint(0, 5, (batch,))
        x_np = x.numpy()
        once = tokenize_series(tokenizer, x_np) if mode == "stage2_tokens" else None

        def step() -> None:
            tokens = once if once is not None else tokenize_series(tokenizer, x_np)
            with mixed_precision(precision, x.device):
                loss = prior.loss(tokens, labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step, params
    prior.eval()
    labels = None if mode == "sample_uncond" else torch.full((batch,), 1)

    def run() -> None:
        with mixed_precision(precision, x.device):
            tokens = sample_tokens(prior, batch, class_labels=labels, steps=10, guidance=guidance,
                                   generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            tokenizer.detokenize(tokens)

    return run, params


def ours(mode: str, length: int, batch: int, guidance: float, precision: str = "32-true",
         compiled: bool = False) -> dict:
    fn, params = _ours_workload(mode, length, batch, guidance, precision, compiled)
    first_s = _seconds(fn) if compiled else float("nan")  # compiling happens here
    # Counting FLOPs under FlopCounterMode throws the compiled code back to eager for the
    # rest of the process: the compiled rows leave it out (their FLOPs are the eager ones).
    flops = float("nan") if compiled else _flops(fn)
    warm, n = (2, 10) if mode.startswith("stage") else (1, 3)
    times = [_seconds(fn) for _ in range(warm + n)][warm:]
    return {"series_per_s": batch / statistics.median(times), "peak_rss_mib": _peak_rss_mib(),
            "flops_per_series": flops / batch, "params": params, "first_call_s": first_s}


def _fresh(fn, *args) -> dict:  # noqa: ANN001
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def theirs(mode: str, length: int, matmul_precision: str = "highest") -> dict | None:
    python = os.environ.get("REF_PYTHON")
    if not os.environ.get("REF_DIR") or not python:
        return None
    mode = {"stage2_tokens": "stage2"}.get(mode, mode)  # theirs has one training step
    env = {**os.environ, "BENCH_THREADS": str(THREADS), "PYTHONWARNINGS": "ignore",
           "REF_MATMUL_PRECISION": matmul_precision}
    result = subprocess.run([python, str(HERE / "reference_side.py"), mode, str(length)],
                            env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"reference {mode} L={length} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def recorded_reference() -> dict[tuple[str, int], dict]:
    if not REFERENCE.is_file():
        return {}
    with REFERENCE.open() as f:
        return {(r["what"], int(r["length"])): {"series_per_s": float(r["series_per_s"]),
                                                 "peak_rss_mib": float(r["peak_rss_mib"] or "nan")}
                for r in csv.DictReader(f)}


def _reference_share(row: dict) -> str:
    """Their series/s over the roofline at their own FLOPs: how close their code runs to peak."""
    if not row["reference_series_s"] or not row["reference_gflops_per_series"]:
        return "-"
    peak_gflops = float(row["roofline_series_s"]) * float(row["ours_gflops_per_series"])
    return f"{float(row['reference_series_s']) * float(row['reference_gflops_per_series']) / peak_gflops:.2f}"


def _per_flop(row: dict) -> str:
    """Ours / theirs in FLOPs per second rather than series per second: the ratio at equal
    FLOPs per series, for rows where the two codes do different amounts of work."""
    ours = float(row["ours_series_s"]) * float(row["ours_gflops_per_series"] or "nan")
    if not row["reference_series_s"] or not row["reference_gflops_per_series"] or ours != ours:
        return "-"  # no reference, or a compiled row, whose FLOPs are not counted
    return f"{ours / (float(row['reference_series_s']) * float(row['reference_gflops_per_series'])):.2f}"


def _ceiling(row: dict) -> str:
    """The best ratio ours / theirs that our FLOPs per series allow on this machine."""
    if not row["reference_series_s"]:
        return "-"
    return f"{float(row['roofline_series_s']) / float(row['reference_series_s']):.2f}"


def profile(mode: str, length: int, batch: int, precision: str = "32-true") -> str:
    """The top rows, by self CPU time, of a torch.profiler profile of one of our rows."""
    import torch

    fn, _ = _ours_workload(mode, length, batch, 1.0, precision)
    fn()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3 if mode.startswith("stage") else 1):
            fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _finished_rows(path: Path, side_by_side: bool) -> list[dict]:
    """Rows an earlier, stopped run of the same kind (side by side or not) wrote."""
    if not path.is_file():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # files written before the column existed timed theirs at "highest"
        r.setdefault("reference_matmul_precision", "highest")
    return [r for r in rows if (r["reference"] == "side by side") == side_by_side]


def _target_verdicts(rows: list[dict]) -> list[str]:
    """One phrase per measured row: its ratio against its target, and peak RSS for stage 1."""
    verdicts = []
    for r in rows:
        if r["ratio"] in ("", None) or r["target_ratio"] in ("", None):
            continue
        ratio, target = float(r["ratio"]), float(r["target_ratio"])
        per_flop = _per_flop(r)
        per_flop = f"; per FLOP {per_flop}x" if per_flop != "-" else ""
        versus = f" vs theirs at matmul {r['reference_matmul_precision']}" if r.get("reference_matmul_precision", "highest") != "highest" else ""
        verdicts.append(f"{r['what']} L={r['L']}{versus}: {ratio:.2f}x, target >= {target}x "
                        f"({'met' if ratio >= target else 'not met'}{per_flop})")
        if str(r["what"]).startswith("stage-1") and r["reference_rss_mib"] not in ("", None):
            rss = float(r["ours_rss_mib"]) / float(r["reference_rss_mib"])
            verdicts.append(f"{r['what']} L={r['L']}{versus} peak RSS: {rss:.2f}x, target <= {RSS_TARGET}x "
                            f"({'met' if rss <= RSS_TARGET else 'not met'})")
    return verdicts


def _row(what: str, length: int, batch: int, target: float, gflops: float, ours_runs: list[dict],
         their_runs: list[dict], matmul_precision: str, recorded: dict) -> dict:
    """One csv row: per-pass medians of both sides (or their recorded figures), FLOPs, roofline."""
    o = {k: statistics.median(r[k] for r in ours_runs) for k in ours_runs[0]}
    t = ({k: statistics.median(r[k] for r in their_runs) for k in ("series_per_s", "peak_rss_mib", "flops_per_series", "params")}
         if their_runs else recorded)
    roofline = gflops * 1e9 / o["flops_per_series"]
    return {
        "what": what, "L": length, "batch": batch,
        "ours_series_s": round(o["series_per_s"], 1),
        "reference_series_s": round(t["series_per_s"], 1) if t else "",
        "ratio": round(o["series_per_s"] / t["series_per_s"], 2) if t else "",
        "target_ratio": "" if target is None else target,
        "ours_rss_mib": round(o["peak_rss_mib"]),
        "reference_rss_mib": round(t["peak_rss_mib"]) if t and t.get("peak_rss_mib") == t.get("peak_rss_mib") else "",
        "ours_params": int(o["params"]), "reference_params": int(t["params"]) if t.get("params") else "",
        "ours_gflops_per_series": round(o["flops_per_series"] / 1e9, 3),
        "reference_gflops_per_series": round(t["flops_per_series"] / 1e9, 3) if t.get("flops_per_series") else "",
        "roofline_series_s": round(roofline, 1),
        "ours_share_of_roofline": round(o["series_per_s"] / roofline, 3),
        "reference": "side by side" if their_runs else ("recorded, another machine" if t else ""),
        "reference_matmul_precision": matmul_precision,
        "passes_ours": [round(r["series_per_s"], 1) for r in ours_runs],
        "passes_reference": [round(r["series_per_s"], 1) for r in their_runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[140, 500])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--modes", nargs="+", choices=sorted({r[1] for r in ROWS}),
                        help="only the rows of these workloads (e.g. sample_uncond sample_cond after a change to "
                             "sampling alone); write them to their own --out folder, not over the full table")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows the csv already holds from a stopped run of the same kind")
    parser.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true",
                        help="ours only (theirs runs as published); bf16-mixed writes speed_cpu_bf16.csv/.md "
                             "and takes the roofline from the bf16 matmul throughput")
    parser.add_argument("--reference-matmul-precision", nargs="+", choices=("highest", "medium"), default=["highest"],
                        help="torch's fp32 matmul precision for their code, one row per setting: highest as the "
                             "shared harness times it; medium as their training scripts set it (bf16 matmuls on "
                             "CPUs with bf16 units)")
    parser.add_argument("--compile", action="store_true",
                        help="ours with trainer.compile (the prior's transformer compiled): the prior's rows only, "
                             "written to <stem>_compiled.csv/.md; FLOPs are not counted in those processes")
    args = parser.parse_args()
    side_by_side = bool(os.environ.get("REF_DIR") and os.environ.get("REF_PYTHON"))
    bf16 = args.precision == "bf16-mixed"
    gflops = _fresh(matmul_gflops, "bfloat16" if bf16 else "float32")
    print(f"{'bf16' if bf16 else 'fp32'} 2048^3 matmul: {gflops:.0f} GFLOP/s with {THREADS} threads; "
          f"{'side by side, ' + str(args.passes) + ' passes' if side_by_side else 'NO reference code: recorded figures from another machine'}", flush=True)
    recorded = recorded_reference()
    stem = ("speed_cpu_bf16" if bf16 else "speed_cpu") + ("_compiled" if args.compile else "")
    csv_path = args.out / f"{stem}.csv"
    rows = _finished_rows(csv_path, side_by_side) if args.resume else []
    done = {(r["what"], int(r["L"]), r["reference_matmul_precision"]) for r in rows}
    settings = args.reference_matmul_precision if side_by_side else ["highest"]
    kept = len(rows)
    for length in args.lengths:
        if side_by_side and any((what, length, m) not in done for what, mode, *_ in ROWS for m in settings
                                if not args.modes or mode in args.modes):
            # Their stage 2 loads the stage-1 weights this saves, under one name for every
            # length, and their encoder's depth follows L: save again for each length.
            theirs("stage1_barlowtwins_save", length)
        for what, mode, recorded_name, batch, target in ROWS:
            if args.modes and mode not in args.modes:
                continue
            if args.compile and mode.startswith("stage1"):
                continue  # trainer.compile compiles the prior only
            todo = [m for m in settings if (what, length, m) not in done]
            if not todo:
                continue
            guidance = 2.0 if "w = 2" in what else 1.0
            ours_runs, their_runs = [], {m: [] for m in todo}
            for _ in range(args.passes):  # ours, theirs (at each setting), ours, theirs, ...
                ours_runs.append(_fresh(ours, mode, length, batch, guidance, args.precision, args.compile))
                for m in todo if side_by_side else []:
                    their_runs[m].append(theirs(mode, length, m))
            for m in todo:
                rows.append(_row(what, length, batch, target, gflops, ours_runs, their_runs[m], m,
                                 recorded.get((recorded_name, length)) or {}))
                print(json.dumps(rows[-1]), flush=True)
                _write_csv(csv_path, rows)  # row by row: a stopped benchmark keeps what it measured
    lines = [
        "# Speed on this machine, ours beside the method authors' code",
        "",
        f"Command: `REF_DIR=... REF_PYTHON=... python benchmarks/speed.py --lengths {' '.join(map(str, args.lengths))} --passes {args.passes}"
        f"{' --precision bf16-mixed' if bf16 else ''}"
        f"{' --reference-matmul-precision ' + ' '.join(settings) if settings != ['highest'] else ''}"
        f"{' --compile' if args.compile else ''}"
        f"{' --modes ' + ' '.join(args.modes) + ' --out ' + str(args.out) if args.modes else ''}`; "
        f"{THREADS} threads; {'bf16' if bf16 else 'fp32'} matmul {gflops:.0f} GFLOP/s (the roofline's ceiling). "
        + ("Ours runs in bf16 mixed precision, theirs in float32 as published. " if bf16 else "")
        + ("Ours with trainer.compile (its prior's transformer compiled; the first call, which compiles, is not "
           "timed); ours' FLOPs are not counted (counting sends compiled code back to eager), so the roofline "
           "columns are empty: they are the eager rows' FLOPs. " if args.compile else "")
        + ("Theirs' matmul is torch's fp32 matmul precision for their code: highest as the shared harness "
           "times it, medium as their training scripts set it (on CPUs with bf16 units, fp32 matmuls then run in bf16). "
           if side_by_side else "")
        + ("Ours and theirs alternate, fresh process each, per-row medians of the passes." if side_by_side
           else "**No reference code was run: reference figures were recorded on another machine and the ratios do not compare like with like.**")
        + (f" {kept} rows were kept from an earlier run of this command (--resume); each row's roofline uses the matmul throughput of its own run." if kept else ""),
        "",
        "| what | L | batch | theirs' matmul | ours series/s | theirs series/s | ours / theirs | per FLOP | ours GFLOP/series | theirs GFLOP/series | params ours / theirs | roofline series/s | share of roofline ours / theirs | ceiling of ours / theirs | RSS MiB ours / theirs |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['L']} | {r['batch']} | {r['reference_matmul_precision']} | {r['ours_series_s']} | {r['reference_series_s']} | {r['ratio']} | {_per_flop(r)} | "
            f"{r['ours_gflops_per_series']} | {r['reference_gflops_per_series']} | {int(r['ours_params']):,} / {r['reference_params'] or '-'} | "
            f"{r['roofline_series_s']} | {r['ours_share_of_roofline']} / {_reference_share(r)} | {_ceiling(r)} | "
            f"{r['ours_rss_mib']} / {r['reference_rss_mib'] or '-'} |"
        )
    lines += ["", "Targets (ours / theirs): " + "; ".join(_target_verdicts(rows)) + ".",
              "", "The ceiling is the ratio ours / theirs if our code ran every FLOP at the measured matmul "
              "throughput (roofline / their series per second): a target above it cannot be met at our FLOPs "
              f"per series in {'bf16' if bf16 else 'fp32'}, only by doing less work per series. "
              "Per FLOP is ours / theirs in FLOPs per second, the ratio at equal FLOPs per series; the "
              "targets are judged on series per second (the conditional rows' targets count the null pass "
              "theirs runs, so only series per second compares them). Where our FLOPs per series exceed "
              "theirs, the token grid is most of why: ours pads the STFT's frames up to a multiple of the "
              "encoder's total stride so that the decoder lands on the STFT's width without interpolating, "
              "theirs rounds each stride-2 halving down and interpolates back, so ours keeps 9 latent frames "
              "to their 8 at L = 140 (45 tokens to 40) and 16 to 15 at L = 500; the rest is our decoder's "
              "3x3 input convolution and our encoder's 1x1 output one."]
    if any(r["what"] == STEP_AS_TRAINED for r in rows):
        lines += ["", f"\"{STEP_AS_TRAINED}\" has no target and does not compare like with like: our training "
                  "tokenizes the training split once and feeds the prior token batches, theirs runs the frozen "
                  "encoder on every raw batch; it is what one step of each code's own training costs."]
    if not args.no_profile:
        length = args.lengths[0]
        for title, mode, batch in (("stage-1 step (Barlow Twins, batch 128, 3 steps)", "stage1_barlowtwins", 128),
                                   ("unconditional sampling (256 series, T = 10, decoding included)", "sample_uncond", 256)):
            if args.modes and mode not in args.modes:
                continue
            lines += ["", f"Profile of our {title}, L = {length}:", "", "```", _fresh(profile, mode, length, batch, args.precision), "```"]
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

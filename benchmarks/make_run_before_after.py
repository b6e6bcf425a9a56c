"""`make run` (GunPoint, Barlow Twins, cpu preset) before and after this round's speed
work, over seeds: time per stage, and quality measured by today's evaluation.

    git worktree add ../before 7e87281      # the code before
    git worktree add --detach ../after HEAD # the code after, fixed while this checkout changes
    python benchmarks/make_run_before_after.py --before-src ../before/src --after-src ../after/src \
        --seeds 0 1 2 --variant stem_full=tokenizer.stem=full

For each seed, the command `make run` runs (with --seed) is run by the code at
``--before-src``, by the code at ``--after-src`` (default: this checkout) and by that code
once more for each ``--variant NAME=KEY=VALUE`` (one ``--set``, its own column: which
change of the after code moved a figure), one after the other, each with an empty
evaluator cache as on a fresh clone; wall-clock time includes start-up. The "before" runs
are then re-scored with ``ncvqvae evaluate`` by the after code, so that every side is
measured by the same metrics (matched-count FID and its floor, CAS by one recipe,
near-copies).
Results accumulate in ``benchmarks/results/make_run_GunPoint.json`` (a later call skips
what is there) and are summarised in ``make_run_GunPoint.md`` (``--results`` names another json,
its summary beside it, for a question of its own); ``--rescore`` scores the
finished `before` runs again without running anything, ``--summarize`` only rewrites the
summary. ``--seeds 3 4 5 --sides after stem_full`` adds seeds to a paired question between
the after code and a variant without running the old code again; the summary compares
times over the seeds the `before` side ran (a seed's runs share one machine), quality over
every seed, and each pair of sides seed by seed (differences, seeds where the second side
is better, paired t-test). The json records each invocation's arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "make_run_GunPoint.json"
COMMAND = ["run", "--dataset", "GunPoint", "--ssl", "barlowtwins", "--preset", "cpu"]
STAGES = ("evaluator_s", "tokenizer_s", "prior_s", "generation_s")
QUALITY = ("fid_ratio", "rocket_fid_ratio", "cas", "cas_trtr_ratio", "near_copy_rate")


def run(src: Path | None, seed: int, out: Path, extra: tuple[str, ...] = ()) -> float:
    """Wall-clock seconds of `make run`'s command (plus ``extra`` options) at ``seed``."""
    env = {**os.environ, "NCVQVAE_CACHE": tempfile.mkdtemp(prefix="ncvqvae-cache-")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ncvqvae.cli", *COMMAND, *extra, "--seed", str(seed), "--out", str(out)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_run(src: Path | None, seed: int, out: Path, extra: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Run into a fresh ``out``: ({wall_s and the seconds of each stage}, the run's timing record)."""
    if out.exists():
        shutil.rmtree(out)
    wall = run(src, seed, out, extra)
    timing = json.loads((out / "metrics.json").read_text())["timing"]
    return {"wall_s": wall, **{k: timing.get(k) for k in STAGES}}, timing


def rescore(run_dir: Path, copy: Path, src: Path | None = None) -> float:
    """Score a `before` run with today's code and today's cpu-preset evaluation recipe.

    The recipe (CAS steps and sample counts, FID sample counts) is part of the run's
    config, and the before-code's was heavier (CAS on 1000 synthetic series for 600 steps,
    FID on 1024): scoring each side by its own recipe would compare recipes, not models.
    """
    import yaml

    from ncvqvae.config import preset

    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints"))
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["evaluation"] = dataclasses.asdict(preset("cpu").evaluation)
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "NCVQVAE_CACHE": tempfile.mkdtemp(prefix="ncvqvae-cache-")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ncvqvae.cli", "evaluate", "--run", str(copy)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def figures(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    g = metrics["generation"]
    out = {
        "fid_ratio": g["fid"] / g["fid_real"],
        "rocket_fid_ratio": g["rocket_fid"] / g["rocket_fid_real"],
        "cas": g["cas"],
        "cas_trtr_ratio": g["cas_trtr_ratio"],
        "near_copy_rate": g["near_copy_rate"],
    }
    return out


def _score_before(runs: Path, seed: int, entry: dict, src: Path | None = None) -> None:
    """Score a `before` run by the `after` code's evaluation (``src``; None: this checkout)."""
    scored = runs / "before_rescored" / f"seed{seed}"
    entry["rescore_s"] = rescore(runs / "before" / f"seed{seed}", scored, src)
    entry.update(figures(scored))


def _save(record: dict, key: str, path: Path) -> None:
    path.write_text(json.dumps(record, indent=2))  # entry by entry: a stopped run keeps what it has
    print(key, json.dumps(record[key]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-src", type=Path, default=None,
                        help="the code before (needed unless --sides leaves `before` out)")
    parser.add_argument("--after-src", type=Path, default=None,
                        help="the code after (default: this checkout); a worktree of a commit keeps the "
                             "measurement fixed while this checkout changes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the json results accumulate in; the .md summary is written beside it")
    parser.add_argument("--runs", type=Path, default=Path("runs/make_run"))
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE",
                        help="also run the after code with one --set KEY=VALUE, as side NAME (repeatable): "
                             "which change of the after code moved a figure")
    parser.add_argument("--sides", nargs="+", default=None, metavar="SIDE",
                        help="run only these sides (before, after, a variant's NAME) for these seeds: more "
                             "seeds of a paired after-vs-variant question without re-running the old code")
    parser.add_argument("--summarize", action="store_true",
                        help="write the summary from the results file without running anything")
    parser.add_argument("--rescore", action="store_true",
                        help="score the finished `before` runs again (today's recipe) instead of running anything")
    args = parser.parse_args()
    record = json.loads(args.results.read_text()) if args.results.is_file() else {}
    if args.summarize:
        write_summary(record, args.results.with_suffix(".md"))
        return
    after = args.after_src.resolve() if args.after_src else None
    if after is not None:
        record["after_commit"] = subprocess.run(["git", "-C", str(after), "rev-parse", "--short", "HEAD"],
                                                capture_output=True, text=True, check=True).stdout.strip()
    if args.rescore:
        for seed in args.seeds:
            _score_before(args.runs, seed, record[f"before/seed{seed}"], after)
            _save(record, f"before/seed{seed}", args.results)
        write_summary(record, args.results.with_suffix(".md"))
        return
    record.setdefault("invocations", []).append(" ".join(sys.argv[1:]))
    variants = dict(v.split("=", 1) for v in args.variant)
    record.setdefault("variants", {}).update(variants)
    variants = record["variants"]
    sides = [("before", args.before_src, ()), ("after", after, ())]
    sides += [(name, after, ("--set", setting)) for name, setting in variants.items()]
    if args.sides is not None:
        unknown = set(args.sides) - {name for name, _, _ in sides}
        if unknown:
            parser.error(f"--sides: unknown side(s) {sorted(unknown)}; known: {[name for name, _, _ in sides]}")
        sides = [side for side in sides if side[0] in args.sides]
    if any(name == "before" for name, _, _ in sides) and args.before_src is None:
        parser.error("--before-src is needed to run the `before` side")
    for seed in args.seeds:
        for side, src, extra in sides:
            key = f"{side}/seed{seed}"
            if key in record:
                continue
            out = args.runs / side / f"seed{seed}"
            entry, timing = timed_run(src.resolve() if src is not None else None, seed, out, extra)
            if side == "before":
                _score_before(args.runs, seed, entry, after)
            else:
                entry.update(figures(out))
                entry["metrics_s"] = timing.get("metrics_s")
                entry["commit"] = record.get("after_commit")
            record[key] = entry
            _save(record, key, args.results)
    write_summary(record, args.results.with_suffix(".md"))


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def paired_lines(record: dict, pairs: list[tuple[str, str]]) -> list[str]:
    """Each pair of sides compared seed by seed on the seeds both ran: the mean of the
    differences, on how many seeds the second side is better, and a paired t-test's p."""
    from scipy.stats import ttest_rel

    lines = ["", "| paired by seed: second - first | seeds | " + " | ".join(QUALITY) + " |",
             "|---|---:|" + "---|" * len(QUALITY)]
    lower_better = {"fid_ratio", "rocket_fid_ratio", "near_copy_rate"}
    for first, second in pairs:
        seeds = sorted(int(k.split("seed")[1]) for k in record if k.startswith(first + "/")
                       and f"{second}/{k.split('/')[1]}" in record)
        if len(seeds) < 2:
            continue
        cells = []
        for key in QUALITY:
            a = [record[f"{first}/seed{s}"][key] for s in seeds]
            b = [record[f"{second}/seed{s}"][key] for s in seeds]
            diff = statistics.mean(y - x for x, y in zip(a, b))
            wins = sum((y < x) if key in lower_better else (y > x) for x, y in zip(a, b))
            cells.append(f"{diff:+.3f} (better at {wins}/{len(seeds)}, p = {ttest_rel(a, b).pvalue:.2f})")
        lines.append(f"| {second} vs {first} | {', '.join(map(str, seeds))} | " + " | ".join(cells) + " |")
    return lines


def write_summary(record: dict, path: Path) -> None:
    variants = record.get("variants", {})
    names = ["before", "after", *variants]
    sides = {side: [v for k, v in record.items() if k.startswith(side + "/")] for side in names}
    commits = sorted({v["commit"] for v in sides["after"] if v.get("commit")}) or (
        [record["after_commit"]] if "after_commit" in record else [])
    after_label = f"after ({', '.join(commits)})" if commits else "after"
    others = [name for name in names[1:] if sides[name]]
    labels = {"after": after_label, **{name: f"{name} (after, `--set {variants[name]}`)" for name in variants}}
    before_seeds = {k.split("/")[1] for k in record if k.startswith("before/")}
    invocations = record.get("invocations") or ["--before-src BEFORE/src --seeds 0 1 2"]
    lines = [
        "# `make run` on GunPoint before and after this round's speed work",
        "",
        "Commands, in order: " + "; ".join(f"`python benchmarks/make_run_before_after.py {i}`" for i in invocations)
        + f" (BEFORE a worktree of 7e87281, AFTER one of {', '.join(commits) or 'this checkout'}). "
        "Each run: `ncvqvae run --dataset GunPoint --ssl barlowtwins --preset cpu --seed k`, an empty evaluator "
        "cache, one run at a time on this 2-core machine; wall-clock includes start-up, not the install. "
        "Quality of both sides is scored by today's evaluation with one recipe, the cpu preset's (`before` runs "
        "re-scored with `ncvqvae evaluate` after their config's evaluation section is set to it).",
        "",
        "| | before (7e87281) | " + " | ".join(f"{labels[n]} | {n} / before" for n in others) + " |",
        "|---|---:|" + "---:|---:|" * len(others),
    ]
    # Times compare only within one machine: each side's times over the seeds the `before`
    # side ran, whose runs of one seed share a machine; the other seeds' stay in the json.
    for key in ("wall_s", *STAGES):
        b = [v[key] for v in sides["before"] if v.get(key)]
        cells = []
        for name in others:
            a = [record[k][key] for k in record if k.startswith(name + "/") and k.split("/")[1] in before_seeds
                 and record[k].get(key)]
            if b and a:
                (mb, _), (ma, sa) = _stats(b), _stats(a)
                cells.append(f"{ma:.0f} ± {sa:.0f} | {ma / mb:.2f}")
            else:
                cells.append("- | -")
        if b:
            mb, sb = _stats(b)
            lines.append(f"| {key} | {mb:.0f} ± {sb:.0f} | " + " | ".join(cells) + " |")
    ordered = sorted(before_seeds, key=lambda seed: int(seed[4:]))
    per_seed = [
        f"{name} " + ", ".join(f"{record[f'{name}/{seed}']['wall_s'] / record[f'before/{seed}']['wall_s']:.2f}"
                               for seed in ordered if f"{name}/{seed}" in record)
        for name in others
    ]
    lines += ["", f"Times: over the seeds the before side ran ({', '.join(ordered)}). A seed's runs ran on one "
              "machine one after the other, but seeds may come from different sessions and machines (see the "
              "commands), so a std includes the machines' spread; wall_s / before's, seed by seed: "
              + "; ".join(per_seed) + ".",
              "", "| quality (mean ± std over seeds) | before | " + " | ".join(f"{n} | no worse?" for n in others) + " |",
              "|---|---:|" + "---:|---|" * len(others)]
    lower_better = {"fid_ratio", "rocket_fid_ratio", "near_copy_rate"}
    for key in QUALITY:
        b = [v[key] for v in sides["before"]]
        if not b:
            continue
        mb, sb = _stats(b)
        cells = []
        for name in others:
            ma, sa = _stats([v[key] for v in sides[name]])
            better = ma <= mb + sb if key in lower_better else ma >= mb - sb
            cells.append(f"{ma:.3f} ± {sa:.3f} | {'yes' if better else 'no'}")
        direction = "lower" if key in lower_better else "higher"
        lines.append(f"| {key} ({direction} is better) | {mb:.3f} ± {sb:.3f} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{n} {len(sides[n])}" for n in ["before", *others])
    lines += ["", f"Seeds: {counts}. 'No worse': the mean lies within one before-std of the before-mean, or better."]
    lines += paired_lines(record, [(a, b) for a in ["before", "after"] for b in others if b != a])
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

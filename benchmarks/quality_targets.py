"""The quality targets across datasets, before and after, from finished studies.

    python benchmarks/quality_targets.py \
        --before benchmarks/results/study_quality_cpu \
        --after benchmarks/results/study_quality_after_cpu \
        --probes benchmarks/results/study_quality_after_probes_cpu \
        --out benchmarks/results/quality_targets_cpu.md

Each study's cells give one value per seed of FID / floor, the reconstructions' FID /
floor, CAS / TRTR, near-copy rate and minutes; a dataset meets a target when the mean over
its seeds does (each target counted separately, as the targets are stated). The probe
target pairs Barlow Twins with the baseline at the same tokenizer. Studies still running
give what they have: every figure carries its seed count. Where both studies ran the same
dataset and seed, a paired section counts the cells each figure improves (sign test).
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ncvqvae.study.report import CellRow, collect
from ncvqvae.study.spec import load_spec


@dataclass(frozen=True)
class Target:
    """One target: a per-cell figure, a threshold, and how many datasets must meet it."""

    name: str
    figure: Callable[[dict[str, float]], float]
    threshold: float
    at_most: bool  # True: lower is better and the mean must not exceed the threshold
    fmt: str
    every: bool = False  # True: every dataset must meet it, not ``required`` of them


def _ratio(top: str, bottom: str) -> Callable[[dict[str, float]], float]:
    return lambda m: m[top] / m[bottom] if top in m and bottom in m and m[bottom] > 0 else math.nan


def _minutes(m: dict[str, float]) -> float:
    stages = ("timing.evaluator_s", "timing.tokenizer_s", "timing.prior_s", "timing.generation_s")
    return sum(m[k] for k in stages if k in m) / 60 if any(k in m for k in stages) else math.nan


TARGETS = (
    Target(
        "reconstructions' FID / floor <= 3",
        _ratio("generation.fid_recon", "generation.fid_real"),
        3.0,
        True,
        "{:.1f}x",
    ),
    Target(
        "samples' FID / floor <= 5",
        _ratio("generation.fid", "generation.fid_real"),
        5.0,
        True,
        "{:.1f}x",
    ),
    Target(
        "CAS / TRTR >= 0.95",
        lambda m: m.get("generation.cas_trtr_ratio", math.nan),
        0.95,
        False,
        "{:.2f}",
    ),
    Target(
        "near-copy rate <= 0.10",
        lambda m: m.get("generation.near_copy_rate", math.nan),
        0.10,
        True,
        "{:.2f}",
    ),
    # "at most 20 minutes per dataset and seed": a bound on every dataset, not a count.
    Target("minutes per dataset and seed <= 20", _minutes, 20.0, True, "{:.1f}", every=True),
)


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float  # NaN for one seed
    n: int

    def text(self, fmt: str) -> str:
        if self.n == 0:
            return "not run"
        body = fmt.format(self.mean)
        if self.n > 1:
            body += " ± " + fmt.format(self.std).rstrip("x").lstrip("+")
        return f"{body} (n={self.n})"


NOT_RUN = Spread(math.nan, math.nan, 0)


def spread(values: list[float]) -> Spread:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return Spread(math.nan, math.nan, 0)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return Spread(statistics.fmean(values), std, len(values))


def per_dataset(
    rows: list[CellRow], figure: Callable[[dict[str, float]], float], setting: str | None = None
) -> dict[str, Spread]:
    """Mean and spread over seeds of a per-cell figure, for each dataset's finished cells
    (of one setting, or of the study's only one)."""
    values: dict[str, list[float]] = {}
    for row in rows:
        if row.status == "finished" and (setting is None or row.setting == setting):
            values.setdefault(row.dataset, []).append(figure(row.metrics))
    return {dataset: spread(v) for dataset, v in values.items()}


def meets(target: Target, value: Spread) -> bool:
    if value.n == 0:
        return False
    return value.mean <= target.threshold if target.at_most else value.mean >= target.threshold


def probe_gaps(
    rows: list[CellRow], ssl: str, baseline: str
) -> dict[str, tuple[Spread, Spread, Spread, int]]:
    """Per dataset: the SVM probe of ``ssl``, of ``baseline``, their difference paired by
    seed, and at how many of the paired seeds ``ssl`` is above: a mean above 0 whose sign
    flips between seeds is not the same evidence as one above at every seed."""
    svm: dict[tuple[str, str, int], float] = {
        (r.dataset, r.setting, r.seed): r.metrics["tokenizer.probe.svm"]
        for r in rows
        if r.status == "finished" and "tokenizer.probe.svm" in r.metrics
    }
    out = {}
    for dataset in sorted({d for d, _, _ in svm}):
        seeds = sorted({s for d, _, s in svm if d == dataset})
        a = [svm[(dataset, ssl, s)] for s in seeds if (dataset, ssl, s) in svm]
        b = [svm[(dataset, baseline, s)] for s in seeds if (dataset, baseline, s) in svm]
        paired = [
            svm[(dataset, ssl, s)] - svm[(dataset, baseline, s)]
            for s in seeds
            if (dataset, ssl, s) in svm and (dataset, baseline, s) in svm
        ]
        out[dataset] = (spread(a), spread(b), spread(paired), sum(d > 0 for d in paired))
    return out


def _verdict(met: bool, fewest: int, seeds: int) -> str:
    """A count resting on fewer seeds than the study has is provisional, and says so."""
    word = "met" if met else "not met"
    return word if fewest >= seeds else f"{word} so far ({fewest} of {seeds} seeds)"


def table(
    before: list[CellRow],
    after: list[CellRow],
    probes: list[CellRow] | None,
    *,
    ssl: str,
    baseline: str,
    required: int,
    seeds: int = 1,
) -> str:
    """The Markdown: one table per target (before, after, met?), a count line under each."""
    datasets = sorted({r.dataset for r in after})
    lines: list[str] = []
    for target in TARGETS:
        b = per_dataset(before, target.figure)
        a = per_dataset(after, target.figure)
        lines += [
            f"### {target.name}",
            "",
            "| dataset | before | after | met |",
            "|---|---:|---:|:---:|",
        ]
        for dataset in datasets:
            after_value = a.get(dataset, NOT_RUN)
            lines.append(
                f"| {dataset} | {b.get(dataset, NOT_RUN).text(target.fmt)} | {after_value.text(target.fmt)} | {'yes' if meets(target, after_value) else 'no'} |"
            )
        met = sum(meets(target, a.get(d, NOT_RUN)) for d in datasets)
        met_before = sum(meets(target, b.get(d, NOT_RUN)) for d in datasets)
        fewest = min((a.get(d, NOT_RUN).n for d in datasets), default=0)
        needed = len(datasets) if target.every else required
        verdict = _verdict(met >= needed, fewest, seeds)
        lines += [
            "",
            f"After: {met} of {len(datasets)} datasets (needed: {needed}{', every one' if target.every else ''}) - **{verdict}**; before: {met_before}.",
            "",
        ]
    if probes is not None:
        gaps = probe_gaps(probes, ssl, baseline)
        lines += [
            f"### SVM probe: {ssl} above {baseline}",
            "",
            f"| dataset | {ssl} | {baseline} | difference, paired by seed | seeds where {ssl} is above | met |",
            "|---|---:|---:|---:|---:|:---:|",
        ]
        met = consistent = 0
        for dataset, (a, b, d, above) in gaps.items():
            ok = d.n > 0 and d.mean > 0
            met += ok
            consistent += d.n > 0 and above == d.n
            lines.append(
                f"| {dataset} | {a.text('{:.3f}')} | {b.text('{:.3f}')} | {d.text('{:+.3f}')} | {above} of {d.n} | {'yes' if ok else 'no'} |"
            )
        paired = min((d.n for _, _, d, _ in gaps.values()), default=0)
        verdict = _verdict(met >= required and len(gaps) >= len(datasets), paired, seeds)
        lines += [
            "",
            f"{met} of {len(datasets)} datasets ({len(gaps)} with probe cells, at least {paired} paired seed(s) each) (needed: {required}) - **{verdict}**; "
            f"above at every paired seed on {consistent}.",
            "",
        ]
    return "\n".join(lines)


PAIRED = tuple((t.name.split(" <=")[0].split(" >=")[0], t.figure, t.at_most) for t in TARGETS[:4]) + (
    ("SVM probe on the tokens", lambda m: m.get("tokenizer.probe.svm", math.nan), False),
)


def paired(before: list[CellRow], after: list[CellRow]) -> str:
    """Before against after cell by cell, where both ran the same dataset and seed: how many
    cells the after-setting improves, with a two-sided sign test (ties left out). Means
    over three seeds hide a change that is small but consistent; this shows it."""
    from scipy.stats import binomtest

    def by_cell(rows: list[CellRow]) -> dict[tuple[str, int], dict[str, float]]:
        return {(r.dataset, r.seed): r.metrics for r in rows if r.status == "finished"}

    b, a = by_cell(before), by_cell(after)
    cells = sorted(b.keys() & a.keys())
    lines = ["### Paired by seed (the same dataset and seed on both sides)", "",
             "| figure | cells better after | cells worse after | sign test, two-sided p |", "|---|---:|---:|---:|"]
    for name, figure, lower_is_better in PAIRED:
        diffs = [figure(a[c]) - figure(b[c]) for c in cells]
        diffs = [d for d in diffs if math.isfinite(d) and d != 0]
        better = sum((d < 0) == lower_is_better for d in diffs)
        p = binomtest(better, len(diffs)).pvalue if diffs else math.nan
        lines.append(f"| {name} | {better} of {len(diffs)} | {len(diffs) - better} of {len(diffs)} | {p:.2g} |")
    return "\n".join(lines + [""])


DIAGNOSIS = (
    ("training series", lambda m: m.get("generation_counts.n_real_train", math.nan), "{:.0f}"),
    ("recon MSE, train", lambda m: m.get("tokenizer.recon_mse_train", math.nan), "{:.4f}"),
    ("recon MSE, test", lambda m: m.get("tokenizer.recon_mse", math.nan), "{:.4f}"),
    ("test / train", _ratio("tokenizer.recon_mse", "tokenizer.recon_mse_train"), "{:.0f}x"),
    ("samples' FID / reconstructions' FID", _ratio("generation.fid", "generation.fid_recon"), "{:.2f}"),
    ("samples' near-copy rate", lambda m: m.get("generation.near_copy_rate", math.nan), "{:.2f}"),
    # Scored since the reconstructions' near-copy rate exists; absent from older cells.
    ("reconstructions' near-copy rate", lambda m: m.get("generation.near_copy_rate_recon", math.nan), "{:.2f}"),
)


def diagnosis(after: list[CellRow]) -> str:
    """Where the after-setting loses quality, per dataset: a tokenizer that reconstructs its
    training series far better than unseen ones has memorised them (stage 1 cannot give
    the prior unseen-looking series), and samples' FID near or below the reconstructions'
    says the prior adds little loss of its own. Near-copies among the samples that the
    reconstructions of unseen series do not share are the prior's. A figure no cell has
    scored is left out rather than shown as not run."""
    datasets = sorted({r.dataset for r in after})
    columns = [(name, per_dataset(after, figure), fmt) for name, figure, fmt in DIAGNOSIS]
    columns = [c for c in columns if any(v.n for v in c[1].values())]
    lines = [
        "### Where quality is lost (after-setting)",
        "",
        "| dataset | " + " | ".join(name for name, _, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for dataset in datasets:
        cells = [values.get(dataset, NOT_RUN).text(fmt) for _, values, fmt in columns]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])


def load_rows(study_dir: Path) -> list[CellRow]:
    return collect(study_dir, load_spec(study_dir / "spec.yaml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the before-study's folder")
    parser.add_argument("--after", type=Path, required=True, help="the after-study's folder")
    parser.add_argument(
        "--probes", type=Path, help="a tokenizer-only study with the two probe settings"
    )
    parser.add_argument("--ssl", default="barlowtwins_slice", help="the probe study's SSL setting")
    parser.add_argument("--baseline", default="none", help="the probe study's baseline setting")
    parser.add_argument(
        "--required", type=int, default=4, help="datasets that must meet each target"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    before = load_rows(args.before)
    after = load_rows(args.after)
    after_datasets = {r.dataset for r in after}
    before = [r for r in before if r.dataset in after_datasets]
    probes = (
        load_rows(args.probes) if args.probes and (args.probes / "spec.yaml").is_file() else None
    )
    command = " ".join(
        ["python benchmarks/quality_targets.py", f"--before {args.before}", f"--after {args.after}"]
        + ([f"--probes {args.probes}"] if args.probes else [])
        + [f"--out {args.out}"]
    )
    header = [
        "# Quality targets across datasets, before and after",
        "",
        f"Written by `{command}`: each figure is the mean ± std over the",
        "seeds a study has finished (n); a dataset meets a target when its mean does.",
        f"Before: `{args.before}`; after: `{args.after}`"
        + (f"; probes: `{args.probes}`." if args.probes else "."),
        "",
        "",
    ]
    if args.probes and probes is None:
        header += [f"The probe study (`{args.probes}`) has not run yet: its target is not counted.", "", ""]
    text = "\n".join(header) + table(
        before,
        after,
        probes,
        ssl=args.ssl,
        baseline=args.baseline,
        required=args.required,
        seeds=len(load_spec(args.after / "spec.yaml").seeds),
    ) + "\n" + paired(before, after) + "\n" + diagnosis(after)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text(text + "\n")
    tmp.replace(args.out)
    print(text)


if __name__ == "__main__":
    main()

"""A study's results: every cell's metrics, means and spreads over seeds, each setting
against the baseline (wins/ties/losses over datasets and a Wilcoxon signed-rank test),
average ranks with a critical-difference diagram, and one self-contained HTML report.

Writes ``runs.csv`` (a row per cell), ``summary.csv`` (dataset, setting, metric, mean,
std with ddof 1 as the reference tables use, n), ``summary.md`` and ``report.html``.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ncvqvae.evaluation.directions import HIGHER, LOWER, REFERENCE, direction, direction_label
from ncvqvae.run_folder import RunFolder
from ncvqvae.study.cell import cell_status, error_path, log_path
from ncvqvae.study.provenance import code_label, code_note, evaluator_label, evaluator_note
from ncvqvae.study.spec import StudySpec

DEFAULT_HEADLINE = {
    "tokenizer": ("tokenizer.probe.svm", "tokenizer.probe.knn", "tokenizer.recon_mse", "tokenizer.perplexity"),
    "reconstruction": (
        "reconstruction.fid_recon_ratio",
        "reconstruction.fid_recon",
        "tokenizer.recon_mse",
        "tokenizer.recon_mse_train",
        "reconstruction.near_copy_rate_recon",
        "tokenizer.probe.svm",
    ),
    "full": (
        "tokenizer.probe.svm",
        "tokenizer.recon_mse",
        "generation.fid",
        "generation.fid_recon",
        "generation.cas",
        "generation.trtr",
        "generation.near_copy_rate",
        "generation.near_copy_rate_recon",
    ),
}
# Our metric -> (the authors' column, scale that brings theirs to ours).
REFERENCE_METRICS = {
    "tokenizer.probe.svm": ("svm", 0.01),
    "tokenizer.probe.knn": ("knn", 0.01),
    "tokenizer.perplexity": ("perplexity", 1.0),
}
DEFAULT_REFERENCE = Path("..") / "shared" / "reference" / "ncvqvae_authors_results.csv"


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics dict as {"tokenizer.probe.svm": 0.91}."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            flat[name] = float(value)
    return flat


@dataclass
class CellRow:
    dataset: str
    setting: str
    seed: int
    status: str
    metrics: dict[str, float]
    error: str = ""
    log: str = ""
    code: str = ""
    evaluator: str = ""


def collect(study_dir: Path, spec: StudySpec) -> list[CellRow]:
    rows = []
    for cell in spec.cells():
        status = cell_status(study_dir, cell, spec.stages)
        metrics: dict[str, float] = {}
        code = evaluator = ""
        if status == "finished":
            raw = RunFolder(cell.folder(study_dir)).read_metrics()
            code, evaluator = code_label(raw), evaluator_label(raw)
            metrics = {k: v for k, v in flatten(raw).items() if not k.startswith(("timing.", "evaluator.cached"))}
            metrics.update({f"timing.{k}": v for k, v in flatten(raw.get("timing", {})).items()})
        error = ""
        if status == "failed":
            error = error_path(study_dir, cell).read_text().splitlines()[0]
        log = str(log_path(study_dir, cell))
        rows.append(CellRow(cell.dataset, cell.setting, cell.seed, status, metrics, error, log, code, evaluator))
    return rows


@dataclass
class Summary:
    """mean, std (ddof 1; NaN for one seed) and n of each (dataset, setting, metric)."""

    values: dict[tuple[str, str, str], list[float]]

    def stats(self, dataset: str, setting: str, metric: str) -> tuple[float, float, int]:
        values = self.values.get((dataset, setting, metric), [])
        if not values:
            return math.nan, math.nan, 0
        std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        return float(np.mean(values)), std, len(values)

    def metrics(self) -> list[str]:
        return sorted({m for _, _, m in self.values})


def summarise(rows: list[CellRow]) -> Summary:
    values: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        for metric, value in row.metrics.items():
            if math.isfinite(value):
                values.setdefault((row.dataset, row.setting, metric), []).append(value)
    return Summary(values)


@dataclass
class Comparison:
    """One setting against the baseline on one metric, over datasets (means over seeds)."""

    setting: str
    wins: int
    ties: int
    losses: int
    mean_difference: float
    p_value: float
    n_datasets: int


def compare_to_baseline(summary: Summary, spec: StudySpec, metric: str) -> list[Comparison]:
    """Wins / ties / losses count datasets where the setting's mean is better / equal (to
    4 decimals) / worse than the baseline's; the p-value is a two-sided Wilcoxon
    signed-rank test over those datasets (scipy), 1.0 when every difference is 0."""
    from scipy.stats import wilcoxon

    if direction(metric) == REFERENCE:
        return []
    sign = 1.0 if direction(metric) == HIGHER else -1.0
    out = []
    for setting in spec.settings:
        if setting == spec.baseline:
            continue
        diffs = []
        for dataset in spec.datasets:
            ours, _, n = summary.stats(dataset, setting, metric)
            base, _, m = summary.stats(dataset, spec.baseline, metric)
            if n and m:
                diffs.append(ours - base)
        d = np.round(np.array(diffs), 4)
        wins, losses = int((sign * d > 0).sum()), int((sign * d < 0).sum())
        if len(d) == 0:
            p = math.nan
        elif not np.any(d != 0):
            p = 1.0
        else:
            p = float(wilcoxon(np.array(diffs)).pvalue)
        out.append(
            Comparison(setting, wins, int(len(d) - wins - losses), losses,
                       float(np.mean(diffs)) if diffs else math.nan, p, len(d))
        )
    return out


def rank_matrix(summary: Summary, spec: StudySpec, metric: str) -> tuple[list[str], np.ndarray]:
    """Datasets where every setting has the metric, and their (datasets x settings) means."""
    datasets, rows = [], []
    for dataset in spec.datasets:
        row = [summary.stats(dataset, s, metric)[0] for s in spec.settings]
        if all(math.isfinite(v) for v in row):
            datasets.append(dataset)
            rows.append(row)
    return datasets, np.array(rows).reshape(len(rows), len(spec.settings))


def average_ranks(summary: Summary, spec: StudySpec, metric: str) -> dict[str, float]:
    """Rank 1 is best on each dataset (ties share the average rank), averaged over datasets."""
    from scipy.stats import rankdata

    _, scores = rank_matrix(summary, spec, metric)
    if len(scores) == 0 or direction(metric) == REFERENCE:
        return {}
    signed = -scores if direction(metric) == HIGHER else scores
    ranks = np.vstack([rankdata(row) for row in signed])
    return dict(zip(spec.settings, ranks.mean(axis=0).tolist()))


def load_reference(path: Path | None) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(dataset, authors' metric, authors' setting) -> (mean, std), when the file exists."""
    if path is None or not Path(path).is_file():
        return {}
    with Path(path).open() as f:
        return {(r["dataset"], r["metric"], r["setting"]): (float(r["mean"]), float(r["std"])) for r in csv.DictReader(f)}


def reference_setting(spec: StudySpec, setting: str) -> str:
    """The authors' name for a setting: ``none`` or ``<method>_<augment>``."""
    ssl = spec.cell_config(spec.datasets[0], setting, spec.seeds[0]).ssl
    return "none" if ssl.method == "none" else f"{ssl.method}_{ssl.augment}"


def _fmt(mean: float, std: float, n: int, within_run: float = math.nan) -> str:
    """``within_run``: with one seed, the run's own ``<metric>_std`` (over its R sample
    sets or classifier fits), shown instead of a seed spread that does not exist."""
    if n == 0:
        return "–"
    if not math.isfinite(std):
        if n == 1 and math.isfinite(within_run):
            return f"{mean:.4g} ± {within_run:.2g} (R)"
        return f"{mean:.4g} (n={n})"
    return f"{mean:.4g} ± {std:.2g}"


def _within_run_std(summary: Summary, dataset: str, setting: str, metric: str) -> float:
    """A one-seed cell's spread over its R draws, where the run recorded ``<metric>_std``
    (IS has none: its ``is_std`` is over splits of one set, not over draws)."""
    if metric.endswith("_std"):
        return math.nan
    mean, _, n = summary.stats(dataset, setting, f"{metric}_std")
    return mean if n == 1 else math.nan


def _headline(spec: StudySpec, summary: Summary) -> list[str]:
    wanted = spec.headline or DEFAULT_HEADLINE[spec.stages]
    present = set(summary.metrics())
    return [m for m in wanted if m in present]


# Per-stage seconds each run records; their sum over cells is the study's compute, which stays
# right when the folder was run in pieces, some before wall-clock time was kept.
STAGE_SECONDS = ("tokenizer_s", "prior_s", "evaluator_s", "generation_s", "reconstruction_s")


def markdown(spec: StudySpec, rows: list[CellRow], summary: Summary, reference: dict, elapsed: str) -> str:
    settings = list(spec.settings)
    done = sum(r.status == "finished" for r in rows)
    compute_h = sum(r.metrics.get(f"timing.{k}", 0.0) for r in rows for k in STAGE_SECONDS) / 3600
    lines = [
        "# Study summary",
        "",
        f"{len(spec.datasets)} datasets x {len(settings)} settings x {len(spec.seeds)} seeds "
        f"({spec.stages}); {done} of {len(rows)} cells finished{elapsed}; the cells' own stage times "
        f"sum to {compute_h:.2f} h. Baseline: `{spec.baseline}`. "
        "Each cell: mean ± std over seeds (std with ddof 1); with one seed, \"± s (R)\" is the run's own "
        "spread over its R generated sample sets or classifier fits. **bold**: the best setting per dataset. "
        "In brackets, the method authors' published mean ± std for the same dataset and setting "
        "(GPU, 1000 epochs, 4 seeds), where the reference has it.",
        "",
    ]
    finished = [row for row in rows if row.status == "finished"]
    for note in (code_note(r.code for r in finished), evaluator_note((r.dataset, r.evaluator) for r in finished)):
        if note:
            lines += [note, ""]
    for metric in _headline(spec, summary):
        better = direction(metric)
        lines += [f"## {metric} ({direction_label(metric)})", "", "| dataset | " + " | ".join(settings) + " |",
                  "|---|" + "---:|" * len(settings)]
        for dataset in spec.datasets:
            stats = [summary.stats(dataset, s, metric) for s in settings]
            finite = [st[0] for st in stats if st[2]]
            best = None
            if finite and better != REFERENCE:
                best = max(finite) if better == HIGHER else min(finite)
            cells = []
            for setting, (mean, std, n) in zip(settings, stats):
                text = _fmt(mean, std, n, _within_run_std(summary, dataset, setting, metric))
                if n and best is not None and mean == best and len(finite) > 1:
                    text = f"**{text}**"
                ref_metric = REFERENCE_METRICS.get(metric)
                if ref_metric:
                    ref = reference.get((dataset, ref_metric[0], reference_setting(spec, setting)))
                    if ref:
                        text += f" [{ref[0] * ref_metric[1]:.3g} ± {ref[1] * ref_metric[1]:.2g}]"
                cells.append(text)
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
        comparisons = compare_to_baseline(summary, spec, metric)
        if comparisons:
            lines += ["", f"Against `{spec.baseline}` over datasets (means over seeds):", "",
                      "| setting | wins / ties / losses | mean difference | Wilcoxon p (two-sided) | datasets |",
                      "|---|---|---:|---:|---:|"]
            for c in comparisons:
                lines.append(f"| {c.setting} | {c.wins} / {c.ties} / {c.losses} | {c.mean_difference:+.4g} | {c.p_value:.3g} | {c.n_datasets} |")
        ranks = average_ranks(summary, spec, metric)
        if len(ranks) > 1:
            order = sorted(ranks, key=ranks.get)
            n_ranked = len(rank_matrix(summary, spec, metric)[0])
            over = f"over the {n_ranked} of {len(spec.datasets)} datasets where every setting has a result"
            lines += ["", f"Average rank {over} (1 = best): " + ", ".join(f"{s} {ranks[s]:.2f}" for s in order)]
        lines.append("")
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        lines += ["## Failed cells", ""] + [f"- {r.dataset}/{r.setting}/seed{r.seed}: {r.error} (log: {r.log})" for r in failed]
    return "\n".join(lines) + "\n"


def write_csvs(study_dir: Path, rows: list[CellRow], summary: Summary) -> None:
    metrics = sorted({m for r in rows for m in r.metrics})
    _atomic_csv(
        study_dir / "runs.csv",
        ["dataset", "setting", "seed", "status", "code", "evaluator", *metrics],
        [[r.dataset, r.setting, r.seed, r.status, r.code, r.evaluator, *(r.metrics.get(m, "") for m in metrics)] for r in rows],
    )
    body = []
    for (dataset, setting, metric) in sorted(summary.values):
        mean, std, n = summary.stats(dataset, setting, metric)
        body.append([dataset, setting, metric, repr(mean), "" if not math.isfinite(std) else repr(std), n])
    _atomic_csv(study_dir / "summary.csv", ["dataset", "setting", "metric", "mean", "std", "n"], body)


def _atomic_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def plot_metric(spec: StudySpec, rows: list[CellRow], summary: Summary, metric: str, path: Path) -> Path:
    """Per dataset: every setting's seeds (dots) and mean ± std (bar), baseline first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = [spec.baseline, *[s for s in spec.settings if s != spec.baseline]]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(spec.datasets) + 2), 3.6))
    width = 0.8 / len(settings)
    for k, setting in enumerate(settings):
        xs = np.arange(len(spec.datasets)) + (k - (len(settings) - 1) / 2) * width
        means = [summary.stats(d, setting, metric) for d in spec.datasets]
        ax.errorbar(xs, [m[0] for m in means], yerr=[0 if not math.isfinite(m[1]) else m[1] for m in means],
                    fmt="o", capsize=3, label=setting, color=f"C{k}")
        for x, dataset in zip(xs, spec.datasets):
            seeds = [r.metrics[metric] for r in rows if r.dataset == dataset and r.setting == setting and metric in r.metrics]
            ax.scatter([x] * len(seeds), seeds, s=10, color=f"C{k}", alpha=0.45)
    ax.set_xticks(range(len(spec.datasets)), spec.datasets, rotation=30, ha="right")
    ax.set_ylabel(f"{metric} ({direction_label(metric)})")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_critical_difference(spec: StudySpec, summary: Summary, metric: str, path: Path) -> Path | None:
    """aeon's critical-difference diagram of the settings' average ranks over datasets;
    None when there are too few datasets or settings to draw one."""
    datasets, scores = rank_matrix(summary, spec, metric)
    # aeon's diagram starts from a Friedman test, which needs three settings or more.
    if len(datasets) < 2 or len(spec.settings) < 3 or direction(metric) == REFERENCE:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from aeon.visualisation import plot_critical_difference as aeon_cd

    try:
        fig, _ = aeon_cd(scores, list(spec.settings), lower_better=direction(metric) == LOWER)
    except (ValueError, ZeroDivisionError):
        return None
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _md_to_html(text: str) -> str:
    """The summary's Markdown (headings, paragraphs, pipe tables, lists) as HTML."""
    out, table = [], []

    def flush() -> None:
        if table:
            header, *body = [r for r in table if not set(r.replace("|", "").strip()) <= set("-:")]
            cells = lambda r: [html.escape(c.strip()).replace("**", "") for c in r.strip("|").split("|")]  # noqa: E731
            out.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cells(header)) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>" for r in body) + "</tbody></table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            out.append(f"<p>• {html.escape(line[2:])}</p>")
        elif line.strip():
            out.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    flush()
    return "\n".join(out)


def write_report(study_dir: Path, spec: StudySpec, *, reference_path: Path | None = DEFAULT_REFERENCE, elapsed: str = "") -> dict[str, Path]:
    """Every output of ``ncvqvae study report``; returns their paths."""
    study_dir = Path(study_dir)
    rows = collect(study_dir, spec)
    summary = summarise(rows)
    write_csvs(study_dir, rows, summary)
    text = markdown(spec, rows, summary, load_reference(reference_path), elapsed)
    (study_dir / "summary.md").write_text(text)
    plots_dir = study_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    figures = []
    for metric in _headline(spec, summary):
        cd = plot_critical_difference(spec, summary, metric, plots_dir / f"cd_{metric}.png")
        if cd is None:
            figures.append(f"<p>No critical-difference diagram of {html.escape(metric)}: it needs at least 3 settings and 2 datasets with results.</p>")
        else:
            figures.append(_img(cd, f"Critical-difference diagram of {metric}: average ranks over datasets; bars join settings not significantly different (aeon: Wilcoxon with Holm correction)"))
        figures.append(_img(plot_metric(spec, rows, summary, metric, plots_dir / f"{metric}.png"),
                            f"{metric} per dataset: each setting's seeds (dots) and mean ± std"))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Study report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .7em}"
        "th{background:#f2f2f2}img{max-width:100%}</style></head><body>"
        + _md_to_html(text) + "<h2>Plots</h2>" + "\n".join(figures) + "</body></html>"
    )
    tmp = study_dir / "report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, study_dir / "report.html")
    return {name: study_dir / name for name in ("runs.csv", "summary.csv", "summary.md", "report.html")}

"""Several runs side by side: the headline metrics of each, as one Markdown table.

A table is only worth reading if its columns were measured alike, so ``compare`` warns,
above the table, when runs differ in their data, their evaluator, their sample counts or
the version of the metric definitions, and marks the better value of every row.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ncvqvae.errors import RunFolderError
from ncvqvae.run_folder import RunFolder

HIGHER, LOWER = "higher", "lower"
HEADLINE = (
    ("tokenizer", "recon_mse", LOWER),
    ("tokenizer", "perplexity", HIGHER),
    ("tokenizer", "probe.svm", HIGHER),
    ("tokenizer", "probe.knn", HIGHER),
    ("prior", "val_masked_acc", HIGHER),
    ("evaluator", "test_accuracy", HIGHER),
    ("generation", "fid", LOWER),
    ("generation", "fid_real", None),
    ("generation", "fid_recon", LOWER),
    ("generation", "rocket_fid", LOWER),
    ("generation", "rocket_fid_real", None),
    ("generation", "fid_full", LOWER),
    ("generation", "is_mean", HIGHER),
    ("generation", "cas", HIGHER),
    ("generation", "trtr", None),
    ("generation", "cas_trtr_ratio", HIGHER),
    ("generation", "discriminative_score", LOWER),
    ("generation", "predictive_score", LOWER),
    ("generation", "precision", HIGHER),
    ("generation", "recall", HIGHER),
    ("generation", "density", None),
    ("generation", "coverage", HIGHER),
    ("generation", "cond_acc", HIGHER),
    ("generation", "near_copy_rate", LOWER),
)
# What must agree for a row of numbers to compare like with like.
PROTOCOL = (
    ("data", ("data_fingerprint",)),
    ("evaluator", ("evaluator", "path")),
    ("metric definitions", ("generation_counts", "metrics_version")),
    ("sample sets", ("generation_counts", "n_sets")),
    ("samples per set", ("generation_counts", "n_unconditional")),
    ("matched count", ("generation_counts", "n_per_set")),
    ("conditional samples", ("generation_counts", "n_conditional")),
)


def _lookup(metrics: dict[str, Any], section: str, dotted: str) -> Any:
    value: Any = metrics.get(section, {})
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _protocol_value(metrics: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = metrics
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _format(value: Any, std: Any = None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" + (f" ± {std:.2g}" if isinstance(std, float) else "")
    return str(value)


def _names(runs: list[Path], metrics: list[dict[str, Any]]) -> list[str]:
    """'dataset / ssl / seed', with the folder's name added where two would look alike."""
    base = [f"{m.get('dataset', '?')} / {m.get('ssl', '?')} / seed {m.get('seed', '?')}" for m in metrics]
    repeated = {n for n, c in Counter(base).items() if c > 1}
    names = [f"{b} ({Path(r).name})" if b in repeated else b for b, r in zip(base, runs)]
    repeated = {n for n, c in Counter(names).items() if c > 1}
    return [f"{n} [{i + 1}]" if n in repeated else n for i, n in enumerate(names)]


def protocol_warnings(names: list[str], metrics: list[dict[str, Any]]) -> list[str]:
    warnings = []
    for what, path in PROTOCOL:
        values = [_protocol_value(m, path) for m in metrics]
        if len({repr(v) for v in values}) > 1:
            detail = ", ".join(f"{n}: {v}" for n, v in zip(names, values))
            warnings.append(f"warning: the runs differ in {what} ({detail}); their numbers are not comparable")
    return warnings


def compare_runs(runs: list[Path]) -> str:
    """Warnings, then a Markdown table: one column per run, one row per headline metric,
    the better value of each row in bold."""
    metrics = []
    for run in runs:
        folder = RunFolder(run)
        if not folder.metrics_path.is_file():
            raise RunFolderError(f"{run} holds no metrics.json; is it a finished run folder?")
        metrics.append(folder.read_metrics())
    names = _names(runs, metrics)
    header = "| metric | better | " + " | ".join(names) + " |"
    rule = "|---|---|" + "---:|" * len(names)
    rows = []
    for section, key, direction in HEADLINE:
        values = [_lookup(m, section, key) for m in metrics]
        if all(v is None for v in values):
            continue
        stds = [_lookup(m, section, f"{key}_std") for m in metrics]
        cells = [_format(v, s) for v, s in zip(values, stds)]
        numbers = [v for v in values if isinstance(v, (int, float))]
        if direction and len(numbers) > 1 and len(set(numbers)) > 1:
            best = max(numbers) if direction == HIGHER else min(numbers)
            cells = [f"**{c}**" if v == best else c for c, v in zip(cells, values)]
        rows.append(f"| {section}.{key} | {direction or 'reference'} | " + " | ".join(cells) + " |")
    return "\n".join([*protocol_warnings(names, metrics), "", header, rule, *rows]).lstrip("\n")

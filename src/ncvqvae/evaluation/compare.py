"""Several runs side by side: the headline metrics of each, as one Markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ncvqvae.errors import RunFolderError
from ncvqvae.run_folder import RunFolder

HEADLINE = (
    ("tokenizer", "recon_mse"),
    ("tokenizer", "perplexity"),
    ("tokenizer", "codebook_usage"),
    ("tokenizer", "probe.svm"),
    ("tokenizer", "probe.knn"),
    ("prior", "val_masked_acc"),
    ("prior", "token_kl"),
    ("evaluator", "test_accuracy"),
    ("generation", "fid"),
    ("generation", "fid_real"),
    ("generation", "is_mean"),
    ("generation", "cas"),
    ("generation", "trtr"),
    ("generation", "cfid"),
    ("generation", "fid_recon"),
    ("generation", "fid_conditional"),
    ("generation", "cond_acc"),
    ("generation", "nn_train_ratio"),
    ("generation", "near_copy_rate"),
)


def _lookup(metrics: dict[str, Any], section: str, dotted: str) -> Any:
    value: Any = metrics.get(section, {})
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare_runs(runs: list[Path]) -> str:
    """A Markdown table: one column per run, one row per headline metric."""
    columns = []
    for run in runs:
        folder = RunFolder(run)
        if not folder.metrics_path.is_file():
            raise RunFolderError(f"{run} holds no metrics.json; is it a finished run folder?")
        metrics = folder.read_metrics()
        name = f"{metrics.get('dataset', '?')} / {metrics.get('ssl', '?')} / seed {metrics.get('seed', '?')}"
        columns.append((name, metrics))
    header = "| metric | " + " | ".join(name for name, _ in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    rows = [
        f"| {section}.{key} | " + " | ".join(_format(_lookup(m, section, key)) for _, m in columns) + " |"
        for section, key in HEADLINE
    ]
    return "\n".join([header, rule, *rows])

"""Where a study cell's numbers came from: the code that trained it and the evaluator that
scored it.

A study skips a cell whose folder holds finished metrics for the same config, so one
table can mix cells from different sessions. Two things can then move a number at the
same config: the code (a later commit) and the evaluator FCN, in whose features FID and
IS are computed. An evaluator retrained on another machine differs in its last bits, and
its FID floor moved by up to 61% between two sessions of one study: so a study keeps its
evaluators in its own folder (``study_cache_dir``) and its report names the datasets whose
cells were scored by different ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_SUBDIR = "cache"


def study_cache_dir(state_dir: Path) -> Path:
    """The evaluator cache of a study (its ``.study`` folder + ``cache``): evaluators and
    real-data scores live with the results they scored, so a cell resumed in a later
    session, or on another machine, is scored by the same evaluator as the others."""
    return Path(state_dir) / CACHE_SUBDIR


def code_label(raw: dict[str, Any]) -> str:
    """The commit a cell's code came from ("+modified" with uncommitted changes), or
    "unrecorded" for cells written before runs recorded it."""
    code = raw.get("code")
    if not isinstance(code, dict):
        return "unrecorded"
    label = str(code.get("commit") or f"package {code.get('package', '?')}")
    return label + ("+modified" if code.get("modified") else "")


def evaluator_label(raw: dict[str, Any]) -> str:
    """The digest of the evaluator weights that scored a cell; "" where the cell used none
    (tokenizer-only studies) or predates the digest."""
    evaluator = raw.get("evaluator")
    return str(evaluator.get("digest", "")) if isinstance(evaluator, dict) else ""


def code_note(codes: Iterable[str]) -> str:
    """A sentence when the finished cells' ``codes`` hold more than one code version."""
    counts = Counter(codes)
    if len(counts) <= 1:
        return ""
    listed = ", ".join(f"{label} ({n} cells)" for label, n in counts.most_common())
    return (
        f"Code: the finished cells come from {len(counts)} code versions: {listed} (the `code` column "
        "of runs.csv says which). A change of code can move a cell's numbers at the same config: "
        "compare settings whose cells share a version, or rerun the others."
    )


def evaluator_note(dataset_evaluators: Iterable[tuple[str, str]]) -> str:
    """A sentence naming the datasets whose finished cells were scored by more than one
    evaluator, from (dataset, evaluator digest) pairs; cells without a digest are left out."""
    seen: dict[str, set[str]] = {}
    for dataset, digest in dataset_evaluators:
        if digest:
            seen.setdefault(dataset, set()).add(digest)
    mixed = {dataset: len(digests) for dataset, digests in seen.items() if len(digests) > 1}
    if not mixed:
        return ""
    listed = ", ".join(f"{dataset} ({n} evaluators)" for dataset, n in sorted(mixed.items()))
    return (
        f"Evaluators: cells of {listed} were scored by different evaluator FCNs (the `evaluator` "
        "column of runs.csv). FID and IS are measured in the evaluator's features: compare each "
        "cell's FID with its own floor (`generation.fid_real`), or rescore the cells with one evaluator."
    )

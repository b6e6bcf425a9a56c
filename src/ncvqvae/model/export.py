"""A stage's export: the small file (config, weights, facts about the data) that
evaluation and sampling load without Lightning.

``tokenizer.pt`` and ``prior.pt`` are written by training when a stage finishes; their
presence marks the stage done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ncvqvae.config import RunConfig
from ncvqvae.errors import CheckpointError

EXPORT_FORMAT = "ncvqvae-export-v1"


def save_export(path: Path, *, config: RunConfig, state_dict: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write a stage's export atomically (temporary file, then rename)."""
    payload = {"format": EXPORT_FORMAT, "config": config.to_dict(), "state_dict": state_dict, "meta": meta}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_export(path: Path) -> dict[str, Any]:
    """Read a stage export; a corrupt or foreign file is a clear error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; train that stage first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(err).__name__}); delete it and rerun the "
            "stage (its training checkpoints let it resume)"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a model export of this package")
    return payload

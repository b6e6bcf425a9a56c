"""The run folder: where each stage's results live, and the rules that protect them.

Layout::

    OUT/config.yaml          the RunConfig of this run
    OUT/tokenizer.pt         finished stage 1 (its presence marks the stage done)
    OUT/prior.pt             finished stage 2
    OUT/prior.yaml           stage-2 settings of a ``prior`` command, when they differ
    OUT/checkpoints/<stage>/ Lightning checkpoints (last.ckpt) for resume
    OUT/logs/<stage>/        CSV training logs
    OUT/metrics.json         every metric, merged stage by stage
    OUT/plots/, OUT/report.html

A folder that holds another configuration's run is never written into: the user must
choose another folder or say ``--overwrite`` (which keeps the old folder as a backup).
A change of the evaluation settings alone is the exception: the trained stages are kept
and the samples scored again, the earlier metrics saved beside them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ncvqvae.config import RunConfig, load_saved_config, save_config
from ncvqvae.errors import RunFolderError

CONFIG = "config.yaml"
METRICS = "metrics.json"
TOKENIZER = "tokenizer.pt"
PRIOR = "prior.pt"
REPORT = "report.html"
PRIOR_SETTINGS = "prior.yaml"
# The sections that evaluation settings produce: dropped (after a dated copy) when only
# those settings change, so that the stage that writes them scores again.
EVALUATION_SECTIONS = ("generation", "generation_counts", "reconstruction")

log = logging.getLogger("ncvqvae")


class RunFolder:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def tokenizer_path(self) -> Path:
        return self.path / TOKENIZER

    @property
    def prior_path(self) -> Path:
        return self.path / PRIOR

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    def exists(self) -> bool:
        return self.path.is_dir() and any(self.path.iterdir())

    def prepare(self, config: RunConfig, *, overwrite: bool = False) -> None:
        """Create the folder for ``config``, or continue it if it holds the same run.

        Raises when the folder holds a run with a different configuration (unless
        ``overwrite``, which first moves the old folder to a timestamped backup) or
        when it cannot be written.
        """
        if self.exists():
            existing = self.read_config() if self.config_path.exists() else None
            if overwrite:
                backup = self.path.with_name(f"{self.path.name}.backup-{time.strftime('%Y%m%d-%H%M%S')}")
                shutil.move(str(self.path), str(backup))
                log.info("moved the previous contents of %s to %s", self.path, backup)
            elif existing is None:
                raise RunFolderError(
                    f"{self.path} is not empty and holds no run of this package; "
                    "choose another --out"
                )
            elif _settings_except_evaluation(existing) == _settings_except_evaluation(config):
                if existing.evaluation != config.evaluation:
                    self._restart_evaluation(existing, config)
            elif comparable_config(existing) != comparable_config(config):
                changes = config_differences(existing, config)
                raise RunFolderError(
                    f"{self.path} holds a run with a different configuration ({changes}); "
                    "pass another --out, or --overwrite to move the old run to a backup"
                )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise RunFolderError(
                f"cannot write to {self.path} ({err.strerror}); choose a writable --out"
            ) from err
        save_config(config, self.config_path)

    def _restart_evaluation(self, old: RunConfig, new: RunConfig) -> None:
        """Only the evaluation settings changed: the trained stages stay valid, the scores
        do not. The old metrics are kept in a dated copy and the scores dropped, so the
        generation (or reconstruction) stage scores again under the new settings."""
        metrics = self.read_metrics()
        if any(key in metrics for key in EVALUATION_SECTIONS):
            backup = self.path / f"metrics.before-{time.strftime('%Y%m%d-%H%M%S')}.json"
            shutil.copy2(self.metrics_path, backup)
            for key in EVALUATION_SECTIONS:
                metrics.pop(key, None)
            self._write_metrics(metrics)
            log.info(
                "%s: only evaluation settings changed (%s); the trained stages are kept and the "
                "samples scored again (earlier metrics kept in %s)",
                self.path, config_differences(old, new), backup.name,
            )

    @property
    def prior_settings_path(self) -> Path:
        return self.path / PRIOR_SETTINGS

    def save_prior_settings(self, config: RunConfig) -> None:
        """Record the stage-2 settings a ``prior`` command trained with, beside (not in)
        config.yaml, so that the run's own config, and commands that check it, stay as
        they were."""
        import yaml

        values = {"stage2": asdict(config.stage2), "prior": asdict(config.prior)}
        tmp = self.prior_settings_path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(values, sort_keys=False))
        os.replace(tmp, self.prior_settings_path)

    def read_config(self) -> RunConfig:
        if not self.config_path.is_file():
            raise RunFolderError(f"{self.path} holds no {CONFIG}; is it a run folder?")
        return load_saved_config(self.config_path)

    def read_metrics(self) -> dict[str, Any]:
        if not self.metrics_path.is_file():
            return {}
        try:
            return json.loads(self.metrics_path.read_text())
        except json.JSONDecodeError as err:
            raise RunFolderError(f"{self.metrics_path} is not valid JSON: {err}") from err

    def update_metrics(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into metrics.json (one level deep per section), atomically."""
        metrics = self.read_metrics()
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(metrics.get(key), dict):
                metrics[key] = {**metrics[key], **value}
            else:
                metrics[key] = value
        self._write_metrics(metrics)
        return metrics

    def _write_metrics(self, metrics: dict[str, Any]) -> None:
        """Atomically: an interrupted write never leaves half a metrics.json behind."""
        tmp = self.metrics_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(metrics, indent=2, default=_json_default))
        os.replace(tmp, self.metrics_path)


def comparable_config(config: RunConfig) -> dict[str, Any]:
    """The settings that define a run's results; where and how fast it trains do not."""
    values = config.to_dict()
    values.pop("trainer", None)
    values["data"] = {k: v for k, v in values["data"].items() if k != "data_dir"}
    return values


def _settings_except_evaluation(config: RunConfig) -> dict[str, Any]:
    values = comparable_config(config)
    values.pop("evaluation", None)
    return values


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_differences(old: RunConfig, new: RunConfig, limit: int = 4) -> str:
    """The settings that differ, as "ssl.method: none -> vicreg, seed: 0 -> 1"."""
    a, b = _flatten(comparable_config(old)), _flatten(comparable_config(new))
    keys = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
    keys.sort()
    parts = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return ", ".join(parts)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in metrics.json")

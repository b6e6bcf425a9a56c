"""The study spec (YAML) and the grid of cells it defines.

    base: {preset: cpu}                 # a config or part of one, as --config takes it
    stages: tokenizer                   # tokenizer (probes only) | reconstruction (probes and
                                        # the test reconstructions' FID) | full (through generation)
    data_dir: ../shared/data/UCRArchive_2018
    datasets: [ECG200, TwoLeadECG]
    seeds: [0, 1]
    settings:                           # name -> overrides on top of base
      none: {ssl: {method: none}}
      barlowtwins_slice: {ssl: {method: barlowtwins, augment: slice}}
    baseline: none
    slurm: {partition: gpu, time_min: 120, gpus_per_task: 1, sbatch: ["--qos=normal"]}

Every cell's config is resolved (and so checked) when the spec is read: a typo in a
setting fails with one line before anything trains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ncvqvae.config import RunConfig, from_dict, preset
from ncvqvae.errors import ConfigError

STAGES = ("tokenizer", "reconstruction", "full")
SPEC_KEYS = ("base", "stages", "data_dir", "datasets", "seeds", "settings", "baseline", "slurm", "headline")
SLURM_KEYS = ("partition", "time_min", "gpus_per_task", "cpus_per_task", "mem_gb", "array_parallelism", "sbatch", "setup")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its resolved config and its folder under the study."""

    dataset: str
    setting: str
    seed: int
    config: RunConfig

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.setting}/seed{self.seed}"

    def folder(self, study_dir: Path) -> Path:
        return Path(study_dir) / self.dataset / self.setting / f"seed{self.seed}"


@dataclass(frozen=True)
class StudySpec:
    base: dict[str, Any]
    stages: str
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict[str, dict[str, Any]]
    baseline: str
    data_dir: str | None = None
    slurm: dict[str, Any] = field(default_factory=dict)
    headline: tuple[str, ...] = ()

    def cell_config(self, dataset: str, setting: str, seed: int) -> RunConfig:
        base = dict(self.base)
        start = preset(base.pop("preset", "cpu"))
        try:
            config = from_dict(base, start)
        except ConfigError as err:
            raise ConfigError(f"study spec, base: {err}") from None
        try:
            config = from_dict(self.settings[setting], config)
        except ConfigError as err:
            raise ConfigError(f"study spec, setting {setting!r}: {err}") from None
        return config.override(
            data={"dataset": dataset, "data_dir": self.data_dir},
            trainer={"progress_bar": False},
            seed=seed,
        )

    def cells(self) -> list[Cell]:
        """Every cell, datasets outermost, so that a dataset's cells finish together."""
        return [
            Cell(dataset, setting, seed, self.cell_config(dataset, setting, seed))
            for dataset in self.datasets
            for setting in self.settings
            for seed in self.seeds
        ]

    def subset(
        self,
        *,
        datasets: Sequence[str] = (),
        settings: Sequence[str] = (),
        seeds: Sequence[int] = (),
    ) -> list[Cell]:
        """The cells of the named datasets, settings and seeds (empty: all of them).

        A study is planned whole but rarely run whole at once: a screen runs its most
        promising settings first, a cluster job one dataset. Names outside the spec are an
        error rather than an empty run, which would look like a finished study.
        """
        for what, chosen, known in (
            ("dataset", datasets, self.datasets),
            ("setting", settings, tuple(self.settings)),
            ("seed", seeds, self.seeds),
        ):
            unknown = [str(value) for value in chosen if value not in known]
            if unknown:
                raise ConfigError(
                    f"--{what} {', '.join(unknown)}: not in the study spec "
                    f"({', '.join(str(value) for value in known)})"
                )
        return [
            cell
            for cell in self.cells()
            if (not datasets or cell.dataset in datasets)
            and (not settings or cell.setting in settings)
            and (not seeds or cell.seed in seeds)
        ]

    def to_dict(self) -> dict[str, Any]:
        values = {
            "base": self.base,
            "stages": self.stages,
            "data_dir": self.data_dir,
            "datasets": list(self.datasets),
            "seeds": list(self.seeds),
            "settings": self.settings,
            "baseline": self.baseline,
        }
        if self.slurm:
            values["slurm"] = self.slurm
        if self.headline:
            values["headline"] = list(self.headline)
        return values


def _names(values: Any, what: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"study spec: {what} must be a non-empty list, got {values!r}")
    names = tuple(str(v) for v in values)
    for name in names:
        if not NAME.match(name):
            raise ConfigError(f"study spec: {what} entry {name!r} is not a usable folder name")
    if len(set(names)) != len(names):
        raise ConfigError(f"study spec: {what} lists an entry twice: {list(names)}")
    return names


def parse_spec(values: Any, *, source: str = "study spec") -> StudySpec:
    """A checked StudySpec from the YAML mapping; every cell config is resolved once."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must hold a mapping, got {type(values).__name__}")
    unknown = sorted(set(values) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}")
    stages = values.get("stages", "tokenizer")
    if stages not in STAGES:
        raise ConfigError(f"{source}: stages must be one of {', '.join(STAGES)}, got {stages!r}")
    base = values.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: base must be a mapping of settings, got {base!r}")
    datasets = _names(values.get("datasets"), "datasets")
    seeds_raw = values.get("seeds")
    if not isinstance(seeds_raw, list) or not seeds_raw or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds_raw):
        raise ConfigError(f"{source}: seeds must be a non-empty list of integers >= 0, got {seeds_raw!r}")
    if len(set(seeds_raw)) != len(seeds_raw):
        raise ConfigError(f"{source}: seeds lists a seed twice: {seeds_raw}")
    settings = values.get("settings")
    if not isinstance(settings, dict) or not settings:
        raise ConfigError(f"{source}: settings must be a non-empty mapping of name -> overrides")
    _names(list(settings), "settings")
    for name, overrides in settings.items():
        if overrides is not None and not isinstance(overrides, dict):
            raise ConfigError(f"{source}: setting {name!r} must be a mapping of overrides, got {overrides!r}")
    settings = {str(k): dict(v or {}) for k, v in settings.items()}
    baseline = values.get("baseline")
    if baseline not in settings:
        raise ConfigError(f"{source}: baseline {baseline!r} is not among the settings ({', '.join(settings)})")
    slurm = values.get("slurm") or {}
    if not isinstance(slurm, dict):
        raise ConfigError(f"{source}: slurm must be a mapping, got {slurm!r}")
    bad = sorted(set(slurm) - set(SLURM_KEYS))
    if bad:
        raise ConfigError(f"{source}: unknown slurm key(s) {', '.join(bad)}; known: {', '.join(SLURM_KEYS)}")
    data_dir = values.get("data_dir")
    if data_dir is not None:
        # Relative to where the study is started, as --data-dir is; stored absolute so
        # that every worker, and later commands on a cell, find the same folder.
        data_dir = str(Path(str(data_dir)).expanduser().resolve())
    headline = values.get("headline") or []
    spec = StudySpec(
        base=base,
        stages=stages,
        datasets=datasets,
        seeds=tuple(seeds_raw),
        settings=settings,
        baseline=str(baseline),
        data_dir=None if data_dir is None else str(data_dir),
        slurm=slurm,
        headline=tuple(headline),
    )
    spec.cells()  # resolves, and so checks, every cell's config now
    return spec


def load_spec(path: Path) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study spec {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    return parse_spec(values, source=str(path))


def save_spec(spec: StudySpec, path: Path) -> None:
    tmp = Path(path).with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    tmp.replace(path)

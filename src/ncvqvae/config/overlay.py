"""Composing a config: presets, then YAML files, then ``--set key=value`` assignments.

Each layer is a partial nested mapping laid over the config below it, so a file that
names two settings changes those two and keeps the rest of whatever it is laid on (the
command line's preset, or the preset the file itself names).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from ncvqvae.config.presets import preset
from ncvqvae.config.schema import RunConfig
from ncvqvae.errors import ConfigError


def overlay(base: Any, values: dict[str, Any], where: str = "") -> Any:
    """``base`` (a config dataclass) with the settings of the nested mapping ``values``.

    Unknown keys and a scalar where a section belongs are errors that name the key.
    """
    aliases = {f.metadata["alias"]: f.name for f in fields(base) if "alias" in f.metadata}
    values = {aliases.get(k, k): v for k, v in values.items()}
    known = {f.name for f in fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        place = f"in {where!r}" if where else "at the top level"
        raise ConfigError(
            f"unknown setting(s) {', '.join(map(repr, unknown))} {place}; known: {', '.join(sorted(known))}"
        )
    hints = typing.get_type_hints(type(base))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        current = getattr(base, key)
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{name} is a section of settings; give a mapping, got {value!r}")
            changes[key] = overlay(current, value, name)
        elif hints[key] is str and isinstance(value, int) and not isinstance(value, bool):
            # YAML and --set read a one-layer projector spec ("1024") as a number.
            changes[key] = str(value)
        else:
            changes[key] = value
    return replace(base, **changes)


# Settings that moved: (old path) -> (new path). Configs written before the move still load.
MOVED = {("ssl", "target_decay"): ("ssl", "byol", "ema_decay")}


def migrate(values: dict[str, Any]) -> dict[str, Any]:
    """Move settings from where older configs kept them to where they live now."""
    for old, new in MOVED.items():
        section = values.get(old[0])
        if isinstance(section, dict) and old[1] in section:
            section = dict(section)
            value = section.pop(old[1])
            values[old[0]] = section
            node = section
            for part in new[1:-1]:
                node[part] = dict(node.get(part) or {})
                node = node[part]
            node.setdefault(new[-1], value)
    return values


def from_dict(values: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Build a config from a (possibly partial) nested dict laid over ``base``.

    A dict that names a ``preset`` starts from that preset; otherwise from ``base``, or
    the default (``paper``) settings without one.
    """
    values = migrate(dict(values))
    if "preset" in values:
        base = preset(values.pop("preset"))
    return overlay(base if base is not None else RunConfig(), values)


def from_saved(values: dict[str, Any]) -> RunConfig:
    """A config a run saved (config.yaml, or inside an export): every setting it holds,
    and for settings added to the package after it was written, their defaults, which
    are the behaviour the run was trained with. Unlike :func:`from_dict`, the preset it
    names is a label here, not a base: a preset's values may have changed since."""
    values = migrate(dict(values))
    name = values.pop("preset", "paper")
    return overlay(RunConfig(preset=name), values)


def load_saved_config(path: Path) -> RunConfig:
    return from_saved(read_yaml_mapping(path))


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping of settings in a YAML file; any other content is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path} is not valid YAML: {first}") from err
    if not isinstance(values, dict):
        kind = "nothing" if values is None else f"a {type(values).__name__}"
        raise ConfigError(f"{path} must hold a mapping of settings, got {kind}")
    return values


def save_config(cfg: RunConfig, path: Path) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    tmp.replace(path)


def load_config(path: Path, base: RunConfig | None = None) -> RunConfig:
    """A config file laid over ``base`` (see :func:`from_dict`)."""
    return from_dict(read_yaml_mapping(path), base)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["stage1.max_steps=200", "prior.hidden_dim=64"]`` -> a nested mapping.

    Values are read as YAML scalars (``null``, ``true``, ``1e-3``, ``64``); anything else
    stays a string, and the config's own checks then say whether it fits.
    """
    nested: dict[str, Any] = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value (e.g. stage1.max_steps=200), got {text!r}")
        parts = key.strip().split(".")
        if any(not p for p in parts):
            raise ConfigError(f"--set: {key!r} is not a setting name like stage1.max_steps")
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set: {key!r} conflicts with an earlier --set of {part!r}")
            node = child
        node[parts[-1]] = _parse_scalar(raw.strip())
    return nested


def _parse_scalar(raw: str) -> Any:
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw
    if isinstance(value, str):
        # YAML 1.1 reads "1e-3" as a string; a number is what anyone typing it means.
        try:
            return float(raw)
        except ValueError:
            return value
    return value if isinstance(value, (int, float, bool, type(None), str)) else raw

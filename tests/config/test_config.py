"""Config values are checked by type and range, and files and --set compose over presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ncvqvae.config import RunConfig, from_dict, load_config, parse_assignments, preset, save_config
from ncvqvae.errors import ConfigError


def _leaves(config: object, prefix: str = ""):  # noqa: ANN202
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


@pytest.mark.parametrize("name", ["cpu", "paper"])
def test_presets_round_trip_through_yaml(tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.yaml"
    save_config(preset(name), path)
    assert load_config(path) == preset(name)


def test_every_setting_rejects_a_value_of_the_wrong_type() -> None:
    config = preset("cpu")
    for name, value in _leaves(config):
        wrong = [1, 2] if not isinstance(value, list) else "x"
        override: dict = {}
        node = override
        *sections, key = name.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = wrong
        with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
            from_dict(override, config)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"stage1": {"epochs": "ten"}}, "stage1.epochs must be an integer, got 'ten'"),
        ({"stage2": {"lr": 0}}, "stage2.lr must be > 0"),
        ({"prior": {"dropout": 1.0}}, "prior.dropout must be < 1"),
        ({"prior": {"token_temperature": 0}}, "prior.token_temperature must be > 0"),
        ({"tokenizer": {"ema_decay": 1.5}}, "tokenizer.ema_decay must be < 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"trainer": {"devices": "many"}}, "trainer.devices must be a positive integer or 'auto'"),
        ({"evaluation": {"tsne": "yes"}}, "evaluation.tsne must be true or false"),
        ({"stage1": {"batch_size": True}}, "stage1.batch_size must be an integer"),
    ],
)
def test_range_and_type_errors_name_the_setting(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(values, preset("cpu"))


def test_a_partial_file_lies_over_its_base(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("stage1: {max_steps: 5}\nprior: {hidden_dim: 64}\n")
    cpu = load_config(path, preset("cpu"))
    assert cpu.stage1.max_steps == 5 and cpu.stage1.batch_size == preset("cpu").stage1.batch_size
    assert cpu.prior.hidden_dim == 64 and cpu.prior.dropout == 0.0
    # Without a base, a file that names no preset starts from the defaults (paper).
    assert load_config(path).stage1.batch_size == RunConfig().stage1.batch_size


def test_assignments_parse_as_yaml_scalars() -> None:
    values = parse_assignments(["stage1.max_steps=200", "stage1.lr=1e-3", "ssl.weight=null", "evaluation.tsne=false", "data.dataset=ECG200"])
    assert values == {
        "stage1": {"max_steps": 200, "lr": 1e-3},
        "ssl": {"weight": None},
        "evaluation": {"tsne": False},
        "data": {"dataset": "ECG200"},
    }
    config = from_dict(values, preset("cpu"))
    assert config.stage1.max_steps == 200 and config.ssl.weight is None
    with pytest.raises(ConfigError, match="unknown setting"):
        from_dict(parse_assignments(["stage1.max_stepz=3"]), preset("cpu"))


def test_a_saved_config_keeps_the_behaviour_it_was_trained_with(tmp_path: Path) -> None:
    """A run's config.yaml written before a setting existed gets that setting's default
    (the old behaviour), not the value its preset has today."""
    from ncvqvae.config import load_saved_config

    values = preset("cpu").to_dict()
    del values["tokenizer"]["stem"], values["budget"]
    path = tmp_path / "config.yaml"
    path.write_text(__import__("yaml").safe_dump(values))
    saved = load_saved_config(path)
    assert saved.tokenizer.stem == "full" and saved.budget == "fixed" and saved.preset == "cpu"
    # A partial file given to a new run is laid over today's preset instead.
    assert load_config(path, preset("cpu")).tokenizer.stem == "strided"

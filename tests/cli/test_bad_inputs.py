"""Bad inputs a new user tries, each answered with the right exit code, one line that
names the problem, no traceback, and none of the user's files changed.

The cases are the rows of the audit of the command line (shared/audits/cli-bad-inputs.md),
by number, plus the conventions the command line promises (--version, -h, exit 130).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from ncvqvae.cli import app
from ncvqvae.config import save_config
from ncvqvae.pipeline import run_all

from ..conftest import tiny_config

runner = CliRunner()
GOOD_ROWS = ["1\t" + "\t".join(f"{np.sin(i / 3 + k):.4f}" for i in range(32)) for k in range(4)]
GOOD_ROWS += ["2\t" + "\t".join(f"{np.cos(i / 2 + k):.4f}" for i in range(32)) for k in range(4)]


def ucr(root: Path, name: str, train: list[str] | None = None, test: list[str] | None = None) -> Path:
    folder = root / "ucr" / name
    folder.mkdir(parents=True, exist_ok=True)
    if train is not None:
        (folder / f"{name}_TRAIN.tsv").write_text("\n".join(train) + ("\n" if train else ""))
    if test is not None:
        (folder / f"{name}_TEST.tsv").write_text("\n".join(test) + ("\n" if test else ""))
    return root / "ucr"


def npy(root: Path, name: str, array: np.ndarray) -> Path:
    path = root / name
    np.save(path, array)
    return path


def waves(n: int = 40, length: int = 64) -> np.ndarray:
    t = np.linspace(0, 6, length)
    return np.stack([np.sin(t * (1 + k % 3)) for k in range(n)])[:, None, :].astype(np.float32)


def yaml_file(root: Path, text: str) -> Path:
    path = root / "c.yaml"
    path.write_text(text)
    return path


# Each case: (audit row, setup(tmp) -> argument list, exit code, words the error line holds).
Case = tuple[str, Callable[[Path], list[str]], int, str]

CASES: list[Case] = [
    ("1", lambda t: ["run", "--dataset", "GunPiont", "--out", str(t / "o")], 2, "did you mean GunPoint"),
    ("2", lambda t: ["run", "--data-dir", "/nope/UCR", "--out", str(t / "o")], 2, "/nope/UCR does not exist"),
    ("3", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "E", [], GOOD_ROWS)), "--dataset", "E", "--out", str(t / "o")], 2, "E_TRAIN.tsv is empty"),
    ("4", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "N", GOOD_ROWS[:3] + ["1\t1\tNaN\t" + "\t".join(["0.5"] * 30)] + GOOD_ROWS[3:], GOOD_ROWS)), "--dataset", "N", "--out", str(t / "o")], 2, "line 4 of N_TRAIN.tsv"),
    ("5", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "A", GOOD_ROWS[:5] + ["1\tabc\t" + "\t".join(["0.5"] * 31)], GOOD_ROWS)), "--dataset", "A", "--out", str(t / "o")], 2, "line 6: value 'abc' is not a number"),
    ("5h", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "H", ["label\t" + "\t".join(f"t{i}" for i in range(32)), *GOOD_ROWS], GOOD_ROWS)), "--dataset", "H", "--out", str(t / "o")], 2, "is not a number"),
    ("6", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "R", [*GOOD_ROWS, "1\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10"], GOOD_ROWS)), "--dataset", "R", "--out", str(t / "o")], 2, "--resample"),
    ("6b", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "L", GOOD_ROWS, [r + "\t0.1" for r in GOOD_ROWS])), "--dataset", "L", "--out", str(t / "o")], 2, "--resample"),
    ("7", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "S", ["1\t1\t2\t3", "2\t3\t2\t1"], ["1\t1\t2\t3"])), "--dataset", "S", "--out", str(t / "o")], 2, "at least 8 points"),
    ("8", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "T", GOOD_ROWS, None)), "--dataset", "T", "--out", str(t / "o")], 2, "T_TEST.tsv is missing"),
    ("9", lambda t: ["tokenizer", "--data-dir", str(ucr(t, "U", GOOD_ROWS, [*GOOD_ROWS, "3" + GOOD_ROWS[0][1:]])), "--dataset", "U", "--out", str(t / "o")], 2, "test label(s) 3 do not occur"),
    ("11", lambda t: ["tokenizer", "--data-file", str(npy(t, "x4d.npy", np.zeros((28, 1, 64, 1)))), "--out", str(t / "o")], 2, "x4d.npy: expected an array of shape (N, C, L), got shape (28, 1, 64, 1)"),
    ("12", lambda t: ["tokenizer", "--data-file", str(npy(t, "inf.npy", np.where(np.arange(40)[:, None, None] == 7, np.inf, waves()))), "--out", str(t / "o")], 2, "first: row 7"),
    ("13", lambda t: ["tokenizer", "--data-file", str(npy(t, "s.npy", np.array([["a"] * 16] * 10))), "--out", str(t / "o")], 2, "values must be numeric"),
    ("14", lambda t: ["tokenizer", "--data-file", str(t / "empty.npy"), "--out", str(t / "o")], 2, "empty.npy is empty"),
    ("15", lambda t: ["tokenizer", "--data-file", str(t / "x.csv"), "--out", str(t / "o")], 2, "must be a .npy file"),
    ("16", lambda t: ["tokenizer", "--data-file", str(npy(t, "x_ok.npy", waves())), "--labels", str(npy(t, "y_short.npy", np.arange(30) % 2)), "--out", str(t / "o")], 2, "x_ok.npy holds 40 series but"),
    ("17", lambda t: ["tokenizer", "--data-file", str(npy(t, "x_ok.npy", waves())), "--labels", str(npy(t, "y2d.npy", np.zeros((40, 2)))), "--out", str(t / "o")], 2, "labels must be a 1-D array (N,), got shape (40, 2)"),
    ("18", lambda t: ["tokenizer", "--labels", str(npy(t, "y.npy", np.arange(40) % 2)), "--out", str(t / "o")], 2, "--labels needs --data-file"),
    ("19", lambda t: ["run", "--ssl", "barlow", "--out", str(t / "o")], 2, "Invalid value for '--ssl'"),
    ("19s", lambda t: ["run", "--seed", "abc", "--out", str(t / "o")], 2, "Invalid value for '--seed'"),
    ("21", lambda t: ["run", "--resample", "4", "--out", str(t / "o")], 2, "data.resample must be >= 8, got 4"),
    ("22", lambda t: ["run", "--config", str(yaml_file(t, "stage1: {max_steps: [")), "--out", str(t / "o")], 2, "is not valid YAML"),
    ("22e", lambda t: ["run", "--config", str(yaml_file(t, "")), "--out", str(t / "o")], 2, "must hold a mapping of settings, got nothing"),
    ("22l", lambda t: ["run", "--config", str(yaml_file(t, "- 1\n- 2\n")), "--out", str(t / "o")], 2, "must hold a mapping of settings, got a list"),
    ("23", lambda t: ["run", "--config", str(yaml_file(t, "stage1: {max_stepz: 3}")), "--out", str(t / "o")], 2, "unknown setting(s) 'max_stepz' in 'stage1'"),
    ("24", lambda t: ["run", "--config", str(yaml_file(t, "stage1: {epochs: ten}")), "--out", str(t / "o")], 2, "stage1.epochs must be an integer, got 'ten'"),
    ("25", lambda t: ["run", "--config", str(yaml_file(t, "prior: {n_heads: 0}")), "--out", str(t / "o")], 2, "prior.n_heads must be >= 1, got 0"),
    ("26", lambda t: ["run", "--config", str(yaml_file(t, 'stage1: {max_steps: "10"}')), "--out", str(t / "o")], 2, "stage1.max_steps must be an integer or null, got '10' (str); write it without quotes"),
    ("26l", lambda t: ["run", "--set", "stage1.lr=-1", "--out", str(t / "o")], 2, "stage1.lr must be > 0, got -1"),
    ("26m", lambda t: ["run", "--set", "stage1.max_steps=-5", "--out", str(t / "o")], 2, "stage1.max_steps must be >= 1, got -5"),
    ("26k", lambda t: ["run", "--set", "stage1.max_steps", "--out", str(t / "o")], 2, "--set takes key=value"),
    ("27", lambda t: ["run", "--accelerator", "tpu", "--out", str(t / "o")], 2, "trainer.accelerator must be one of"),
    ("26s", lambda t: ["run", "--set", "stage2.select=best", "--out", str(t / "o")], 2, "data.validation_fraction is 0"),
    ("26v", lambda t: ["tokenizer", "--dataset", "GunPoint", "--set", "data.validation_fraction=0.98", "--out", str(t / "o")], 2, "leaves 1 of 50 training series"),
    ("28", lambda t: ["tokenizer", "--out", str(t / "afile" / "run")], 2, "cannot write to"),
    ("29", lambda t: ["tokenizer", "--out", str(t / "mine")], 2, "holds no run of this package"),
    ("30p", lambda t: ["prior", "--run", str(t / "mine")], 2, "holds no config.yaml"),
    ("30e", lambda t: ["evaluate", "--run", str(t / "mine")], 2, "holds no config.yaml"),
    ("30s", lambda t: ["sample", "--run", str(t / "mine"), "--out", str(t / "s.npy")], 2, "does not exist; train that stage first"),
    ("30c", lambda t: ["compare", str(t / "mine")], 2, "holds no metrics.json"),
]
if torch.cuda.device_count() == 0:
    CASES.append(("27g", lambda t: ["run", "--accelerator", "gpu", "--out", str(t / "o")], 2, "no CUDA GPU is visible"))


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _user_files(tmp: Path) -> None:
    (tmp / "afile").write_text("a file, not a folder")
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("precious")
    (tmp / "empty.npy").write_bytes(b"")
    (tmp / "x.csv").write_text("1,2,3\n4,5,6\n")


def check_clean_failure(result, code: int, words: str) -> None:  # noqa: ANN001
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    if code == 2 and "Invalid value" not in words:
        assert len(errors) == 1, result.output
        assert words in errors[0], result.output
    else:
        assert words in result.output


@pytest.mark.parametrize(("row", "setup", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(tmp_path: Path, row: str, setup: Callable, code: int, words: str) -> None:
    _user_files(tmp_path)
    args = setup(tmp_path)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, args)
    check_clean_failure(result, code, words)
    assert _snapshot(tmp_path) == before, "a failed command must not change the user's files"
    assert not (tmp_path / "o").exists(), "nothing may be written for bad input"


def test_env_data_folder_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCVQVAE_DATA", "/nope")
    check_clean_failure(runner.invoke(app, ["tokenizer", "--out", str(tmp_path / "o")]), 2, "$NCVQVAE_DATA points to /nope")


def test_version_and_short_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("ncvqvae ")
    result = runner.invoke(app, ["run", "-h"])
    assert result.exit_code == 0 and "--print-config" in result.output


def test_help_shows_the_defaults_that_apply() -> None:
    for command in ("run", "tokenizer"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "default: (barlowtwins)" in text and "default: (cpu)" in text, text


def test_config_file_overlays_the_preset(tmp_path: Path) -> None:
    """Row 20: --config and --preset compose: the file's settings over the named preset."""
    path = yaml_file(tmp_path, "stage1: {max_steps: 77}\n")
    result = runner.invoke(app, ["run", "--preset", "paper", "--config", str(path), "--set", "prior.hidden_dim=64", "--print-config"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["preset"] == "paper" and resolved["stage1"]["max_steps"] == 77
    assert resolved["stage1"]["batch_size"] == 128, "the rest comes from the paper preset"
    assert resolved["prior"]["hidden_dim"] == 64 and resolved["ssl"]["method"] == "barlowtwins"
    # A partial file alone lies over the command line's default preset, cpu.
    resolved = yaml.safe_load(runner.invoke(app, ["run", "--config", str(path), "--print-config"]).output)
    assert resolved["preset"] == "cpu" and resolved["stage1"]["batch_size"] == 64


def test_run_step_budgets_on_the_command_line() -> None:
    result = runner.invoke(app, ["run", "--tokenizer-steps", "12", "--prior-steps", "34", "--print-config"])
    resolved = yaml.safe_load(result.output)
    assert resolved["stage1"]["max_steps"] == 12 and resolved["stage2"]["max_steps"] == 34


def test_single_class_data_is_trained_with_a_warning(tmp_path: Path) -> None:
    """Row 10: allowed, but said."""
    x = npy(tmp_path, "one.npy", waves(30))
    y = npy(tmp_path, "y.npy", np.ones(30, dtype=int))
    result = runner.invoke(app, ["tokenizer", "--data-file", str(x), "--labels", str(y), "--set", "stage1.max_steps=2", "--set", "tokenizer.hidden_dim=8", "--set", "tokenizer.n_resblocks=0", "--set", "ssl.projector=16", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "single class" in result.output


# ------------------------------------------------------------------ on a finished run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finished")
    config = tiny_config(ssl={"method": "barlowtwins"})
    config_path = root / "tiny.yaml"
    save_config(config, config_path)
    run_all(config, root / "run")
    return root / "run", config_path


RUN_CASES = [
    ("31t", "truncate tokenizer.pt", ["sample", "--n", "2", "--out", "{tmp}/s.npy"], 2, "is corrupt or truncated"),
    ("32", None, ["run", "--config", "{config}", "--out", "{run}"], 2, "pass --resume"),
    ("33", None, ["run", "--config", "{config}", "--ssl", "vicreg", "--out", "{run}", "--resume"], 2, "ssl.method: 'barlowtwins' -> 'vicreg'"),
    ("35", None, ["run", "--config", "{config}", "--accelerator", "gpu", "--out", "{run}", "--overwrite"], 2, "no CUDA GPU"),
    ("36", None, ["sample", "--n", "0", "--out", "{tmp}/s.npy"], 2, "must be positive"),
    ("36n", None, ["sample", "--n", "-5", "--out", "{tmp}/s.npy"], 2, "must be positive"),
    ("36p", None, ["sample", "--per-class", "0", "--out", "{tmp}/s.npy"], 2, "must be positive"),
    ("37", None, ["sample", "--class", "3", "--n", "2", "--out", "{tmp}/s.npy"], 2, "class label '3' is not one of this model's classes: 1, 2"),
    ("38", None, ["sample", "--guidance", "-3", "--out", "{tmp}/s.npy"], 2, "--guidance must be >= 0"),
    ("38t", None, ["sample", "--token-temperature", "0", "--out", "{tmp}/s.npy"], 2, "token_temperature must be > 0"),
    ("38c", None, ["sample", "--class", "1", "--per-class", "2", "--out", "{tmp}/s.npy"], 2, "--class and --per-class do not combine"),
    ("39", None, ["sample", "--out", "{tmp}/x.txt"], 2, "--out must end in .npy or .csv"),
    ("39d", None, ["sample", "--out", "{tmp}/folder.npy"], 2, "is a folder"),
    ("40", None, ["sample", "--n", "2", "--out", "{tmp}/old.npy"], 2, "old.npy already exist(s); pass --overwrite"),
]
if torch.cuda.device_count() > 0:
    RUN_CASES = [c for c in RUN_CASES if c[0] != "35"]


@pytest.mark.parametrize(("row", "damage", "args", "code", "words"), RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_bad_request_on_a_run_is_one_clear_line(
    finished: tuple[Path, Path], tmp_path: Path, row: str, damage: str | None, args: list[str], code: int, words: str
) -> None:
    run, config = finished
    if damage:
        copy = tmp_path / "damaged"
        subprocess.run(["cp", "-r", str(run), str(copy)], check=True)
        data = (copy / "tokenizer.pt").read_bytes()
        (copy / "tokenizer.pt").write_bytes(data[: len(data) // 2])
        run = copy
    (tmp_path / "folder.npy").mkdir()
    np.save(tmp_path / "old.npy", np.arange(3))
    args = [a.format(tmp=tmp_path, run=run, config=config) for a in args]
    if args[0] == "sample":
        args += ["--run", str(run)]
    before = _snapshot(tmp_path) | {f"run/{k}": v for k, v in _snapshot(run).items()}
    result = runner.invoke(app, args)
    check_clean_failure(result, code, words)
    after = _snapshot(tmp_path) | {f"run/{k}": v for k, v in _snapshot(run).items()}
    assert after == before
    assert not list(run.parent.glob(f"{run.name}.backup-*")), "a refused --overwrite must not move the run"


def test_sample_overwrite_replaces_the_labels_file_too(finished: tuple[Path, Path], tmp_path: Path) -> None:
    run, _ = finished
    out = tmp_path / "s.npy"
    assert runner.invoke(app, ["sample", "--run", str(run), "--per-class", "2", "--out", str(out)]).exit_code == 0
    assert (tmp_path / "s_labels.npy").exists()
    result = runner.invoke(app, ["sample", "--run", str(run), "--n", "3", "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (3, 1, 150)
    assert not (tmp_path / "s_labels.npy").exists(), "unconditional samples have no labels: no stale file"


def test_ctrl_c_exits_130_and_says_the_same_command_resumes(tmp_path: Path) -> None:
    """Row 41, with a real SIGINT during training; the rerun says where it resumes."""
    config = tiny_config(data={"dataset": "ItalyPowerDemand"}, stage1={"epochs": 400, "max_steps": None, "batch_size": 16})
    config_path = tmp_path / "tiny.yaml"
    save_config(config, config_path)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ncvqvae.cli", "tokenizer", "--config", str(config_path), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A suite started in the background (`make test &`) inherits SIGINT as ignored, and
    # Python then installs no Ctrl-C handler in the child: give it the default back.
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    last = out / "checkpoints" / "tokenizer" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not last.exists():
        time.sleep(0.05)
    # At once: the first checkpoint comes about a tenth of the way in, and a second's
    # wait on a fast machine left the tiny run time to finish before the signal.
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err and "Traceback" not in err
    resumed = subprocess.run(command + ["--set", "stage1.epochs=401"], env=env, capture_output=True, text=True, timeout=300)
    # Another budget is another configuration: refused, and the partial run is kept.
    assert resumed.returncode == 2 and "stage1.epochs: 400 -> 401" in resumed.stderr
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "tokenizer: resuming from step" in resumed.stderr

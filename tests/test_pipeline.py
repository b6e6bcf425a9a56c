"""The whole run on real data with tiny settings, the CLI, and the run-folder rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ncvqvae import load
from ncvqvae.cli import app
from ncvqvae.config import save_config
from ncvqvae.errors import RunFolderError
from ncvqvae.pipeline import run_all

from .conftest import tiny_config

runner = CliRunner()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "gp"
    run_all(tiny_config(ssl={"method": "barlowtwins"}), out)
    return out


def test_run_writes_every_metric_and_the_report(finished_run: Path) -> None:
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["dataset"] == "GunPoint" and metrics["ssl"] == "barlowtwins"
    for key in ("recon_mse", "perplexity", "codebook_usage"):
        assert np.isfinite(metrics["tokenizer"][key])
    assert set(metrics["tokenizer"]["probe"]) == {"svm", "knn"}
    assert {"val_masked_acc", "val_loss", "token_kl"} <= set(metrics["prior"])
    assert 0 <= metrics["evaluator"]["test_accuracy"] <= 1
    generation = metrics["generation"]
    for key in ("fid", "fid_real", "fid_recon", "is_mean", "is_std", "cas", "trtr", "cfid", "cond_acc", "fid_conditional", "mdd", "acd", "sd", "kd", "nn_train_ratio", "near_copy_rate", "near_copy_rate_recon"):
        assert generation[key] is not None and np.isfinite(generation[key]), key
    assert {"tokenizer_s", "prior_s", "generation_s", "evaluator_s"} <= set(metrics["timing"])
    html = (finished_run / "report.html").read_text()
    assert "data:image/png;base64," in html and "GunPoint" in html
    for name in ("samples_per_class", "pca", "codebook_usage", "training_curves"):
        assert (finished_run / "plots" / f"{name}.png").stat().st_size > 1000


def test_loaded_model_samples_in_data_units(finished_run: Path) -> None:
    model = load(finished_run)
    x = model.sample(6, class_label=1, guidance=2.0, seed=1)
    assert x.shape == (6, 1, 150) and np.isfinite(x).all()
    assert np.array_equal(x, model.sample(6, class_label=1, guidance=2.0, seed=1))
    # Undoing the standardization puts samples back in the data's range (GunPoint ~ -2..2).
    assert abs(float(x.mean()) - model.standardizer.mean[0]) < 3 * model.standardizer.std[0]


def test_rerun_skips_finished_stages(finished_run: Path) -> None:
    before = (finished_run / "tokenizer.pt").stat().st_mtime_ns
    metrics = run_all(tiny_config(ssl={"method": "barlowtwins"}), finished_run)
    assert (finished_run / "tokenizer.pt").stat().st_mtime_ns == before
    assert metrics["generation"]["fid"] is not None


def test_other_config_in_the_same_folder_is_refused(finished_run: Path) -> None:
    with pytest.raises(RunFolderError, match="different configuration"):
        run_all(tiny_config(ssl={"method": "vicreg"}), finished_run)


def test_cli_sample_writes_npy_and_csv(finished_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", "--run", str(finished_run), "--per-class", "3", "--out", str(tmp_path / "s.npy")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "s.npy").shape == (6, 1, 150)
    # Labels as the dataset gives them: GunPoint's classes are 1 and 2.
    assert np.load(tmp_path / "s_labels.npy").tolist() == [1, 1, 1, 2, 2, 2]
    result = runner.invoke(app, ["sample", "--run", str(finished_run), "--n", "4", "--class", "2", "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    table = np.genfromtxt(tmp_path / "s.csv", delimiter=",", skip_header=1)
    assert table.shape == (4, 151) and (table[:, 0] == 2).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "7", "--n", "3"], "class label '7' is not one of this model's classes: 1, 2"),
        (["--n", "0"], "must be positive"),
        (["--n", "2", "--out-ext", "txt"], "must end in .npy or .csv"),
    ],
)
def test_cli_sample_bad_requests(finished_run: Path, tmp_path: Path, args: list[str], message: str) -> None:
    ext = "npy"
    if "--out-ext" in args:
        ext = args[args.index("--out-ext") + 1]
        args = args[: args.index("--out-ext")]
    result = runner.invoke(app, ["sample", "--run", str(finished_run), "--out", str(tmp_path / f"s.{ext}"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_compare_prints_a_table(finished_run: Path) -> None:
    result = runner.invoke(app, ["compare", str(finished_run), str(finished_run)])
    assert result.exit_code == 0, result.output
    assert "| tokenizer.probe.svm |" in result.output and "generation.fid" in result.output


def test_cli_unknown_dataset_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tokenizer", "--dataset", "GunPont", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown dataset 'GunPont'" in result.output and "GunPoint" in result.output
    assert not (tmp_path / "x").exists(), "nothing may be written for bad input"


def test_cli_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["tokenizer", "--dataset", "GunPoint", "--out", str(blocker / "run")])
    assert result.exit_code == 2 and "cannot write" in result.output


def test_cli_refuses_a_foreign_folder_and_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    result = runner.invoke(app, ["tokenizer", "--dataset", "GunPoint", "--out", str(out)])
    assert result.exit_code == 2 and "holds no run" in result.output
    assert (out / "notes.txt").read_text() == "precious"


def test_config_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_config(tiny_config(seed=5), path)
    from ncvqvae.config import load_config

    assert load_config(path).seed == 5


def test_changed_evaluation_settings_rescore_without_retraining(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "gp"
    shutil.copytree(finished_run, run)
    before = json.loads((run / "metrics.json").read_text())
    trained = (run / "tokenizer.pt").stat().st_mtime_ns, (run / "prior.pt").stat().st_mtime_ns
    config = tiny_config(ssl={"method": "barlowtwins"})
    rescored = run_all(config.override(evaluation={"min_cas_samples": 100}), run)
    assert ((run / "tokenizer.pt").stat().st_mtime_ns, (run / "prior.pt").stat().st_mtime_ns) == trained
    assert before["generation_counts"]["n_conditional"] < 100
    assert rescored["generation_counts"]["n_conditional"] >= 100
    # The earlier scores are kept, not lost, and the folder now holds the new settings.
    (backup,) = run.glob("metrics.before-*.json")
    assert json.loads(backup.read_text())["generation"] == before["generation"]
    assert run_all(config.override(evaluation={"min_cas_samples": 100}), run)["generation"] == rescored["generation"]


def test_metrics_lost_in_a_crash_are_measured_on_rerun(finished_run: Path) -> None:
    path = finished_run / "metrics.json"
    metrics = json.loads(path.read_text())
    expected = metrics.pop("tokenizer")["recon_mse"]
    path.write_text(json.dumps(metrics))
    again = run_all(tiny_config(ssl={"method": "barlowtwins"}), finished_run)
    assert again["tokenizer"]["recon_mse"] == pytest.approx(expected)


def test_cli_run_then_evaluate_reproduces_the_metrics(tmp_path: Path) -> None:
    config_path = tmp_path / "tiny.yaml"
    save_config(tiny_config(ssl={"method": "barlowtwins"}), config_path)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.output
    first = json.loads((out / "metrics.json").read_text())["generation"]

    # A finished run is not silently redone: the same command without --resume refuses.
    report_bytes = (out / "report.html").read_bytes()
    again = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output
    assert (out / "report.html").read_bytes() == report_bytes

    # `evaluate` samples and scores again from the saved models: the same seed gives the
    # same numbers, and the report it rewrites is complete.
    metrics = json.loads((out / "metrics.json").read_text())
    del metrics["generation"]
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "report.html").unlink()
    result = runner.invoke(app, ["evaluate", "--run", str(out)])
    assert result.exit_code == 0, result.output
    second = json.loads((out / "metrics.json").read_text())["generation"]
    for key in ("fid", "fid_real", "is_mean", "cas", "trtr", "fid_conditional"):
        assert second[key] == pytest.approx(first[key], rel=1e-6), key
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_cli_prior_trains_on_a_tokenizer_only_run(tmp_path: Path) -> None:
    config_path = tmp_path / "tiny.yaml"
    save_config(tiny_config(), config_path)
    out = tmp_path / "run"
    result = runner.invoke(app, ["tokenizer", "--config", str(config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "prior.pt").exists()
    result = runner.invoke(app, ["prior", "--run", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "prior.pt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["prior"]["val_masked_acc"] <= 1 and "tokenizer" in metrics
    # The budget given on the command line is recorded beside the run's config, which
    # stays as it was: the original `run` command still accepts the folder.
    import yaml

    from ncvqvae.config import load_config

    assert load_config(out / "config.yaml") == load_config(config_path)
    settings = yaml.safe_load((out / "prior.yaml").read_text())
    assert settings["stage2"]["epochs"] == 2 and settings["stage2"]["max_steps"] is None
    result = runner.invoke(app, ["run", "--config", str(config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["prior", "evaluate"])
def test_cli_stage_on_a_missing_run_is_one_clear_line(tmp_path: Path, command: str) -> None:
    result = runner.invoke(app, [command, "--run", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "nothing holds no config.yaml; is it a run folder?" in result.output
    assert not (tmp_path / "nothing").exists()


def test_cli_datasets_lists_bundled_and_local_data(ucr_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "--data-dir", str(ucr_dir)])
    assert result.exit_code == 0, result.output
    names = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert {"GunPoint", "CBF", "ECG200"} <= names  # CBF and ECG200 exist only in the folder
    assert "ArrowHead" in names  # bundled with aeon


def test_the_reconstruction_stage_scores_as_the_full_run_does(finished_run: Path, tmp_path: Path) -> None:
    """A stage-1 screen's figure is the full run's: same tokenizer, same fid_recon and floor."""
    from ncvqvae.pipeline import (
        open_run,
        run_evaluator_stage,
        run_reconstruction_stage,
        run_tokenizer_stage,
    )

    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    ctx = open_run(tiny_config(ssl={"method": "barlowtwins"}), copy)
    evaluator = run_evaluator_stage(ctx)
    scores = run_reconstruction_stage(ctx, run_tokenizer_stage(ctx), evaluator)
    generation = json.loads((finished_run / "metrics.json").read_text())["generation"]
    for key in ("fid_recon", "fid_real", "rocket_fid_recon", "rocket_fid_real", "near_copy_rate_recon", "nn_train_ratio_recon"):
        assert scores[key] == pytest.approx(generation[key], rel=1e-6), key
    assert scores["fid_recon_ratio"] == pytest.approx(generation["fid_recon"] / generation["fid_real"])
    stored = json.loads((copy / "metrics.json").read_text())
    assert stored["reconstruction"] == scores and stored["timing"]["reconstruction_s"] > 0


def test_rescoring_a_runs_samples_in_its_own_evaluator_reproduces_its_fid(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/rescore_fid.py puts cells scored by different evaluators into one; first
    it must give back a cell's own figures when the evaluator is the one that scored it."""
    import importlib

    from ncvqvae.evaluation.evaluator import load_fcn, weights_digest

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    rescore_fid = importlib.import_module("rescore_fid")
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["evaluator"]["digest"] == weights_digest(load_fcn(metrics["evaluator"]["path"])[0])
    scores = rescore_fid.rescore(finished_run)
    assert scores["fid_real"] == pytest.approx(metrics["generation"]["fid_real"], rel=1e-6)
    assert scores["fid"] == pytest.approx(metrics["generation"]["fid"], rel=1e-6)
    assert scores["rocket_ratio"] > 0


def test_sampling_sweep_gives_back_the_run_s_metrics_at_its_own_settings(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/sampling_sweep.py scores other decoding settings of a trained run; at the
    run's own settings it must reproduce what the run recorded, or its rows compare nothing."""
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    sweep = importlib.import_module("sampling_sweep")
    recorded = json.loads((finished_run / "metrics.json").read_text())["generation"]
    own = sweep.Decoding.of(finished_run, 1.0, None, None)
    assert own.own
    row = sweep.score(own)
    assert row["fid_ratio"] == pytest.approx(recorded["fid"] / recorded["fid_real"], rel=1e-6)
    assert row["near_copy_rate"] == pytest.approx(recorded["near_copy_rate"])
    assert row["cas_trtr_ratio"] == pytest.approx(recorded["cas"] / recorded["trtr"], rel=1e-6)
    hot = sweep.Decoding.of(finished_run, 3.0, None, None)
    assert not hot.own
    assert sweep.score(hot)["fid_ratio"] != row["fid_ratio"]
